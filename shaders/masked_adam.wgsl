// One masked Adam step over a flat parameter, fused into a single pass (PyTorch semantics, L2 weight decay added to
// the gradient, bias-corrected moments):
//   active (mask ≠ 0):   g = grad + weight_decay · w
//                        m = β₁ · m + (1 − β₁) · g
//                        v = β₂ · v + (1 − β₂) · g²
//                        w = w − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
//   inactive (mask = 0): g = 0, m = v = 0, and w is left as it is (exactly zero, as the optimiser keeps it)
// The bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ are computed on the CPU (in f64) and passed in.
// Owner: src/kernels/adam.rs (CPU reference: crate::optim::masked_adam_reference).

@group(0) @binding(0) var<storage, read_write> weight: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment2: array<f32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> weight_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> moment1_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> moment2_out: array<f32>;
// lr, β₁, β₂, ε, weight decay, 1 − β₁ᵗ, 1 − β₂ᵗ
@group(0) @binding(8) var<storage, read_write> hyper: array<f32>;
// [element count, threads per row of the dispatch grid]
@group(0) @binding(9) var<storage, read_write> info: array<u32>;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * info[1];
    if (i >= info[0]) {
        return;
    }
    let w = weight[i];
    if (mask[i] == 0.0) {
        weight_out[i] = w;
        moment1_out[i] = 0.0;
        moment2_out[i] = 0.0;
        return;
    }
    let lr = hyper[0];
    let beta1 = hyper[1];
    let beta2 = hyper[2];
    let g = grad[i] + hyper[4] * w;
    let m = beta1 * moment1[i] + (1.0 - beta1) * g;
    let v = beta2 * moment2[i] + (1.0 - beta2) * (g * g);
    let m_hat = m / hyper[5];
    let v_hat = v / hyper[6];
    weight_out[i] = w - m_hat / (sqrt(v_hat) + hyper[3]) * lr;
    moment1_out[i] = m;
    moment2_out[i] = v;
}
