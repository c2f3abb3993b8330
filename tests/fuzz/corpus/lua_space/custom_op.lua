-- A space with a user-defined primitive: a factorised 7x7 conv (1x7 then 7x1,
-- as DARTS's conv_7x1_1x7; the map between the two is rectangular at stride 2),
-- built by a function so that variants are one line each, and a cell with
-- three nodes.  Reduction cells are chosen by a function of the cell count.
local darts = import "darts"

local function factorised_conv(k)
  return function(stride)
    return {
      relu(),
      conv{ kernel = { 1, k }, stride = { 1, stride }, padding = { 0, k // 2 } },
      conv{ kernel = { k, 1 }, stride = { stride, 1 }, padding = { k // 2, 0 } },
      bn(),
    }
  end
end

local prims = {}
for _, p in ipairs(darts.primitives) do
  if p.name ~= "sep_conv_5x5" and p.name ~= "dil_conv_5x5" then prims[#prims + 1] = p end
end
for _, k in ipairs({ 3, 7 }) do
  prims[#prims + 1] = primitive{ name = ("conv_%dx1_1x%d"):format(k, k), layers = factorised_conv(k) }
end

return space {
  name = "custom_op",
  description = "DARTS primitives without the 5x5 convs, plus factorised 3x3 and 7x7 convs; 3 nodes",
  primitives = prims,
  cell = { nodes = 3, inputs = 2 },
  network = {
    input = { channels = 1, size = 28 },
    channels = 8,
    cells = 4,
    reductions = function(cells) return { cells // 2 } end,
  },
  search = { samples = 4, epochs = 2, batch = 32, limit = 1024, data = "fashion-mnist" },
  evaluation = { cells = 6, channels = 16, epochs = 10, cutout = 8 },
}
