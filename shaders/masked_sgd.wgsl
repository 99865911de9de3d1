// One masked SGD-momentum step over a flat parameter, fused into a single pass (PyTorch semantics):
//   active (mask ≠ 0):   g = grad + weight_decay · w
//                        v = momentum · v + g
//                        d = nesterov ? g + momentum · v : v
//                        w = w − lr · d
//   inactive (mask = 0): w = v = 0: a pruned weight gets no gradient, no decay and no momentum, and stays exactly
//                        zero. `select`, not a product with the mask: a NaN gradient times 0 is NaN.
// Owner: src/kernels/sgd.rs (CPU reference: crate::optim::masked_sgd_reference).

struct Params {
    // element count, threads per row of the dispatch grid
    n: u32,
    row_threads: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    // 0 or 1
    nesterov: u32,
}

@group(0) @binding(0) var<storage, read_write> weight: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> weight_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> velocity_out: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_threads;
    if (i >= params.n) {
        return;
    }
    let kept = mask[i] != 0.0;
    let w = weight[i];
    let g = select(0.0, grad[i] + params.weight_decay * w, kept);
    let v = params.momentum * velocity[i] + g;
    let d = select(v, g + params.momentum * v, params.nesterov != 0u);
    weight_out[i] = select(0.0, w - params.lr * d, kept);
    velocity_out[i] = select(0.0, v, kept);
}
