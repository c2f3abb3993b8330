-- A test space with dense and grouped user-defined convolutions: a
-- factorised 3x3 (1x3 then 3x1, rectangular at stride 2) and a grouped 3x3,
-- on a tiny network.
local function factorised(stride)
  return { relu(), conv{ kernel = { 1, 3 }, stride = { 1, stride }, padding = { 0, 1 } },
           conv{ kernel = { 3, 1 }, stride = { stride, 1 }, padding = { 1, 0 } }, bn() }
end

return space {
  name = "tiny_custom",
  primitives = {
    primitive{ name = "identity", darts_name = "skip_connect",
               layers = function(s) return s == 1 and identity() or factorized_reduce() end },
    primitive{ name = "conv_3x1_1x3", layers = factorised },
    primitive{ name = "grouped_3x3", layers = function(s)
      return { relu(), conv{ kernel = 3, stride = s, padding = 1, groups = 2 }, bn() } end },
    primitive{ name = "max_pool_3x3", layers = function(s)
      return { max_pool{ kernel = 3, stride = s, padding = 1 }, bn{ affine = false, search_only = true } } end },
  },
  cell = { nodes = 2, inputs = 2 },
  network = { input = { channels = 2, size = 8 }, classes = 5, channels = 4, cells = 3 },
  search = { samples = 2, epochs = 1, batch = 8, limit = 64, data = "fashion-mnist" },
  evaluation = { cells = 3, channels = 4, epochs = 1, batch = 8, cutout = 2 },
}
