local s = space{}
s.network.cells = 3
return s
