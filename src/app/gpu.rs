//! One GPU device for the UI and for training. eframe creates the wgpu device, asking for everything the adapter
//! offers (as burn's own runtime would: its limits and features), and burn registers that same device and queue,
//! so the app's rendering and its training share one device instead of opening two.

use std::sync::Arc;

use burn::prelude::Device;
use eframe::egui_wgpu::{self, WgpuConfiguration, WgpuSetup, WgpuSetupCreateNew, wgpu};

use super::Backend;
use crate::backend::BackendKind;

/// eframe's wgpu configuration for a device burn can compute on.
pub fn wgpu_configuration() -> WgpuConfiguration {
    let create = WgpuSetupCreateNew {
        device_descriptor: Arc::new(|adapter| wgpu::DeviceDescriptor {
            label: Some("ticketlab: UI and training"),
            // Experimental features need an unsafe opt-in, and burn's WGSL path does not use them.
            required_features: adapter
                .features()
                .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS | wgpu::Features::all_experimental_mask()),
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::MemoryUsage,
            ..Default::default()
        }),
        ..WgpuSetupCreateNew::without_display_handle()
    };
    WgpuConfiguration { wgpu_setup: WgpuSetup::CreateNew(create), ..Default::default() }
}

/// Burn's device on eframe's wgpu device, with the adapter's description; an error where there is none or it
/// cannot compute (WebGL has no compute shaders).
fn shared_device(render: Option<&egui_wgpu::RenderState>) -> Result<(Device, wgpu::AdapterInfo), String> {
    let render = render.ok_or("the app is not drawn with wgpu")?;
    let info = render.adapter.get_info();
    if info.backend == wgpu::Backend::Gl {
        return Err("the page draws with WebGL, which cannot run compute shaders".into());
    }
    let setup = burn::tensor::wgpu::WgpuSetup {
        instance: render.instance.clone(),
        adapter: render.adapter.clone(),
        device: render.device.clone(),
        queue: render.queue.clone(),
        backend: info.backend,
    };
    let device = Device::wgpu_options().setup(setup).init().map_err(|e| e.to_string())?;
    Ok((device, info))
}

/// Where the app trains: where `asked` says, else on the UI's GPU device; on the CPU where there is no usable GPU and
/// where the only adapter is a software rasteriser (llvmpipe natively, SwiftShader in the browser) unless the GPU was
/// asked for. Each fallback says why.
pub fn choose_backend(render: Option<&egui_wgpu::RenderState>, asked: Option<BackendKind>) -> Backend {
    // The label a saved run records: with the products, as the command line's `cpu`, `cpu-bf16` or `cpu-amx` says
    // them.
    let label = match crate::cpu::Isa::detect() {
        crate::cpu::Isa::Avx512Bf16 => "CPU, bfloat16 products",
        crate::cpu::Isa::Amx => "CPU, bfloat16 products on AMX",
        _ => "CPU",
    };
    let cpu = |notice: Option<String>| Backend { device: Device::flex(), label: label.into(), notice };
    if asked == Some(BackendKind::Cpu) {
        return cpu(None);
    }
    match shared_device(render) {
        // A software adapter trains far slower than burn's CPU backend on the same cores: conv4 ×1 at 17 against 300
        // images/s on llvmpipe natively; the app's default run at 6 against 90 images/s in headless Chromium, whose
        // SwiftShader the browser marks as a fallback adapter.
        Ok((_, info)) if info.device_type == wgpu::DeviceType::Cpu && asked.is_none() => {
            let notice = if cfg!(target_arch = "wasm32") {
                "the browser's WebGPU is a software renderer; training on the CPU, which is faster there \
                 (?backend=wgpu in the address to train on it anyway)"
                    .to_string()
            } else {
                format!(
                    "the only GPU is a software renderer ({}); training on the CPU backend, which is faster there \
                     (--backend wgpu to train on it anyway)",
                    info.name
                )
            };
            cpu(Some(notice))
        }
        Ok((device, info)) if cfg!(target_arch = "wasm32") => {
            Backend { device, label: named("WebGPU", &info), notice: None }
        }
        Ok((device, info)) => Backend { device, label: named("GPU", &info), notice: None },
        Err(e) if cfg!(target_arch = "wasm32") => {
            cpu(Some(format!("WebGPU is not available ({e}); training on the CPU, slowly")))
        }
        Err(e) => cpu(Some(format!("no GPU for training ({e}); training on the CPU"))),
    }
}

/// "GPU (adapter name)", or just "GPU" where the adapter has no name (browsers hide it).
fn named(kind: &str, info: &wgpu::AdapterInfo) -> String {
    if info.name.is_empty() { kind.into() } else { format!("{kind} ({})", info.name) }
}
