-- A problem with one clearly best primitive: the label is the orientation of
-- dot pairs 5 pixels apart (tests/mkdata.c, "pairs"), which a 3x3 receptive
-- field cannot see.  With no reduction cells, a child of identities sees
-- 3x3 patches only; a dilated 5x5 conv on the path sees the pairs.
local d = import "darts"
return space {
  name = "pairs",
  primitives = { d.primitives[1], d.primitives[7] },   -- identity, dil_conv_5x5
  cell = { nodes = 2, inputs = 2 },
  network = { input = { channels = 1, size = 16 }, classes = 2, channels = 8, cells = 2, reductions = {} },
  search = { samples = 4, epochs = 10, batch = 32, limit = 1024, arch_lr = 0.05 },
}
