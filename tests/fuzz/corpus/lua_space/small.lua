-- The CPU-sized default: the DARTS primitives and cell on a small network for
-- Fashion-MNIST (1x28x28: 28 -> 14 -> 7), with a recipe that finishes in a
-- few minutes on two cores.  `parsec-run search` with no arguments runs it.
local darts = import "darts"

return space(extend(darts, {
  name = "small",
  description = "DARTS cell space on a 5-cell, C = 8 network for Fashion-MNIST",
  network = {
    input = { channels = 1, size = 28 },
    channels = 8,
    cells = 5,
  },
  -- about 240 steps of K = 8 children: a few minutes on two cores
  search = {
    samples = 8, epochs = 5, batch = 64,
    limit = 6144,
    data = "fashion-mnist",
  },
  evaluation = { cells = 8, channels = 16, batch = 96, epochs = 20, cutout = 8 },
}))
