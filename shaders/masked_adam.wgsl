// One masked Adam step over a flat parameter, fused into a single pass (PyTorch semantics, L2 weight decay added to
// the gradient, bias-corrected moments):
//   active (mask ≠ 0):   g = grad + weight_decay · w
//                        m = β₁ · m + (1 − β₁) · g
//                        v = β₂ · v + (1 − β₂) · g²
//                        w = w − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//   inactive (mask = 0): w = m = v = 0 (written with `select`, so no NaN gradient reaches a pruned weight)
// The bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ are computed on the CPU (in f64) and passed in.
// Eight storage buffers: exactly WebGPU's default per-stage limit.
// Owner: src/kernels/adam.rs (CPU reference: crate::optim::masked_adam_reference).

struct Params {
    // element count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    weight_decay: f32,
    // 1 − β₁ᵗ, 1 − β₂ᵗ
    correction1: f32,
    correction2: f32,
}

@group(0) @binding(0) var<storage, read_write> weight: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment2: array<f32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> weight_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> moment1_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> moment2_out: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_threads;
    if (i >= params.n) {
        return;
    }
    let w = weight[i];
    if (mask[i] == 0.0) {
        weight_out[i] = 0.0;
        moment1_out[i] = 0.0;
        moment2_out[i] = 0.0;
        return;
    }
    let g = grad[i] + params.weight_decay * w;
    let m = params.beta1 * moment1[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * moment2[i] + (1.0 - params.beta2) * (g * g);
    let m_hat = m / params.correction1;
    let v_hat = v / params.correction2;
    weight_out[i] = w - m_hat / (sqrt(v_hat) + params.epsilon) * params.lr;
    moment1_out[i] = m;
    moment2_out[i] = v;
}
