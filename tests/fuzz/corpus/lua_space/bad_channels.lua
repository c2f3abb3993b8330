return space{ network = { channels = 0 } }
