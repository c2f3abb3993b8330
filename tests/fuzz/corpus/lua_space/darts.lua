-- The DARTS search space exactly as PARSEC uses it (Casale et al., 2019):
-- seven primitives (no `none`), 4 nodes with 2 inputs each, and the DARTS
-- search network (C 16, 8 cells, 3x32x32 input, 10 classes), with the
-- paper's search recipe (K = 16 samples, 100 epochs, batch 64).

-- ReLU, a depthwise k x k conv (dilation d), a 1x1 conv, BN.  BN follows the
-- DARTS convention: non-affine during search, affine in the evaluation network.
local function relu_dw_pw_bn(k, stride, pad, dil)
  return { relu(), conv{kernel = k, stride = stride, padding = pad, dilation = dil, groups = "depthwise"},
           conv{kernel = 1}, bn() }
end

local function sep_conv(k)
  return function(stride)
    return { relu_dw_pw_bn(k, stride, k // 2, 1), relu_dw_pw_bn(k, 1, k // 2, 1) }
  end
end

local function dil_conv(k)
  return function(stride) return relu_dw_pw_bn(k, stride, k - 1, 2) end
end

-- Pooling is followed by a BN during search only (as in DARTS's MixedOp).
local function pooling(kind)
  return function(stride)
    return { kind{kernel = 3, stride = stride, padding = 1}, bn{affine = false, search_only = true} }
  end
end

return space {
  name = "darts",
  description = "DARTS/PARSEC cell space on the DARTS search network",
  primitives = {
    primitive{ name = "identity", darts_name = "skip_connect",
               layers = function(stride) return stride == 1 and identity() or factorized_reduce() end },
    primitive{ name = "avg_pool_3x3", layers = pooling(avg_pool) },
    primitive{ name = "max_pool_3x3", layers = pooling(max_pool) },
    primitive{ name = "sep_conv_3x3", layers = sep_conv(3) },
    primitive{ name = "sep_conv_5x5", layers = sep_conv(5) },
    primitive{ name = "dil_conv_3x3", layers = dil_conv(3) },
    primitive{ name = "dil_conv_5x5", layers = dil_conv(5) },
  },
  cell = { nodes = 4, inputs = 2 },
  network = {
    input = { channels = 3, size = 32 },
    classes = 10,
    channels = 16,
    cells = 8,
    reductions = "darts",          -- cells L/3 and 2L/3
  },
  search = {
    samples = 16, epochs = 100, batch = 64,
    lr = 0.025, lr_min = 0.001, momentum = 0.9, weight_decay = 3e-4, grad_clip = 5,
    arch_lr = 0.02, arch_betas = { 0.5, 0.999 },
    split = 0.5,
    data = "cifar10:cifar-10-batches-bin",
  },
  evaluation = { cells = 20, channels = 36, auxiliary = true, drop_path = 0.2, cutout = 16,
                 batch = 96, epochs = 600 },
  transfer = { epochs = 10, arch_lr = 0.01, batch = 96 },
}
