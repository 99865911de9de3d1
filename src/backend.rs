//! Choosing the device that runs a model: burn's CPU backend or wgpu (Vulkan/Metal/DX12 natively, WebGPU on the web).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// burn's flex CPU backend (the fastest CPU backend that builds natively and for wasm; see `ticketlab bench`).
    Cpu,
    /// burn's wgpu backend on the default adapter.
    Wgpu,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// The name results record: `cpu-bf16` where the CPU kernels multiply in bfloat16 on vectors (the default on
    /// CPUs with AVX512-BF16; `TICKETLAB_CPU_ISA=avx512` keeps f32), `cpu-amx` where they do on AMX tiles (the
    /// default on CPUs with AMX-BF16), since their runs differ from f32 ones and from each other's.
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::Cpu => match crate::cpu::Isa::detect() {
                crate::cpu::Isa::Avx512Bf16 => "cpu-bf16",
                crate::cpu::Isa::Amx => "cpu-amx",
                _ => self.name(),
            },
            _ => self.name(),
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(BackendKind::Cpu),
            "wgpu" | "gpu" => Ok(BackendKind::Wgpu),
            _ => Err(format!("unknown backend '{s}' (expected cpu or wgpu)")),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The device for `kind`. burn's wgpu runtime can be initialised once per process, so the first successful (or
/// failed) initialisation is remembered and shared.
#[cfg(not(target_arch = "wasm32"))]
pub fn device(kind: BackendKind) -> Result<burn::prelude::Device, String> {
    use burn::prelude::Device;
    use std::sync::OnceLock;
    static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => WGPU
            .get_or_init(|| {
                if !has_compute_adapter() {
                    return Err(NO_COMPUTE_ADAPTER.into());
                }
                Device::wgpu_options().init().map_err(|e| format!("could not start the wgpu backend: {e}"))
            })
            .clone(),
    }
}

#[cfg(not(target_arch = "wasm32"))]
const NO_COMPUTE_ADAPTER: &str = "the wgpu backend found no Vulkan, Metal or DX12 adapter, only OpenGL at best, which \
     cannot compile its kernels; install a Vulkan driver (on Debian or Ubuntu, mesa-vulkan-drivers runs Vulkan on the \
     CPU) or use --backend cpu";

/// Whether a Vulkan, Metal or DX12 adapter exists. Without one burn falls back to OpenGL, where its kernels fail
/// validation (no subgroups, at most 256 invocations per workgroup) and every step would only log errors.
#[cfg(not(target_arch = "wasm32"))]
fn has_compute_adapter() -> bool {
    use burn::tensor::wgpu::wgpu;
    let backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    !pollster::block_on(instance.enumerate_adapters(backends)).is_empty()
}
