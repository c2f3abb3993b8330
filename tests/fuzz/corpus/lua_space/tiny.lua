-- The test suite's space: the DARTS cell on a network small enough that a
-- child runs in milliseconds (2x8x8 input, C 4, 3 cells: 8 -> 4 -> 2).
local darts = import "darts"

return space(extend(darts, {
  name = "tiny",
  network = { input = { channels = 2, size = 8 }, classes = 5, channels = 4, cells = 3 },
  search = { samples = 3, epochs = 2, batch = 16, limit = 256, data = "fashion-mnist" },
  evaluation = { cells = 3, channels = 4, epochs = 2, batch = 16, cutout = 2 },
}))
