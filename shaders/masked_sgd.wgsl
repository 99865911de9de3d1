// One masked SGD-momentum step over a flat parameter, fused into a single pass (PyTorch semantics):
//   g = (grad + weight_decay · w) · mask        a pruned weight gets no gradient and no decay
//   v = momentum · v + g                        so its momentum stays exactly zero
//   d = nesterov ? g + momentum · v : v
//   w = w − lr · d                              and the weight itself stays exactly zero
// Owner: src/kernels/sgd.rs (CPU reference: crate::optim::Optimizer's tensor path).

@group(0) @binding(0) var<storage, read_write> weight: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> weight_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> velocity_out: array<f32>;
// lr, momentum, weight decay, nesterov (0 or 1)
@group(0) @binding(6) var<storage, read_write> hyper: array<f32>;
// [element count, threads per row of the dispatch grid]
@group(0) @binding(7) var<storage, read_write> info: array<u32>;

@compute @workgroup_size({{ workgroup_size }}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * info[1];
    if (i >= info[0]) {
        return;
    }
    let lr = hyper[0];
    let momentum = hyper[1];
    let w = weight[i];
    let g = (grad[i] + hyper[2] * w) * mask[i];
    let v = momentum * velocity[i] + g;
    var d = v;
    if (hyper[3] != 0.0) {
        d = g + momentum * v;
    }
    weight_out[i] = w - lr * d;
    velocity_out[i] = v;
}
