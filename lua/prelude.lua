-- The Lua side of parsec's search-space language.
--
-- This chunk runs once per space file with the full standard library; it
-- returns an API table for the C reader (gen/sp_lua.c):
--   api.env(loader)      the whitelist environment a space file runs in
--   api.finish(value)    checks what the space file returned and hands back
--                        a plain, fully defaulted table for the C side
-- Space files never see this chunk's globals: they get api.env(), which holds
-- the constructors below and a safe subset of the standard library.
-- Every constructor checks its keys and types at the call, so an error names
-- the space file and the line of the offending call (see `where`).

local debug_getinfo = debug.getinfo
-- the tags below are protected (__metatable): a space file's getmetatable
-- sees a string, and cannot forge or retag a layer, a primitive or a space;
-- the prelude reads the real metatable through the debug library
local getmt = debug.getmetatable
local math_type, floor = math.type, math.floor
local fmt, concat, sort = string.format, table.concat, table.sort

local api = {}

function api.print(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  io.stderr:write(concat(t, "\t", 1, t.n), "\n")
end

---------------------------------------------------------------------------
-- helpers

-- Levenshtein distance, for "did you mean" suggestions.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function nearest(word, candidates)
  local best, bestd
  for _, c in ipairs(candidates) do
    local d = distance(word, c)
    if not bestd or d < bestd then best, bestd = c, d end
  end
  if best and bestd <= math.max(2, #word // 3) then return best end
  return nil
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  sort(ks)
  return ks
end

-- Where the space file called us.  A space file often ends in a tail call
-- (`return space{...}`, `return conv{...}`), which leaves no caller frame, so
-- the C side also records the last line the space file executed (a line
-- hook); that line is the position of the call that is running now.
local function where()
  for level = 3, 12 do
    local info = debug_getinfo(level, "Slt")
    if not info then break end
    if info.istailcall then break end
    if info.what ~= "C" and info.short_src ~= "prelude" then
      return { src = info.short_src, line = info.currentline }
    end
  end
  local src, line = api.last_line()
  return { src = src or "?", line = line or 0 }
end

-- Raises "file:line: message" at position W (from where()).
local function fail(w, msg, ...)
  error(fmt("%s:%d: ", w.src, w.line) .. fmt(msg, ...), 0)
end

-- Unknown keys are errors, never silently ignored.
local function check_keys(t, schema, what, w)
  local allowed = sorted_keys(schema)
  for k in pairs(t) do
    if type(k) ~= "string" then
      if math_type(k) == "integer" then
        fail(w, "%s: unexpected positional value #%d (this table takes named keys: %s)",
             what, k, concat(allowed, ", "))
      end
      fail(w, "%s: keys must be names, got a %s", what, type(k))
    end
    if schema[k] == nil then
      local near = nearest(k, allowed)
      if near then
        fail(w, "%s: unknown key '%s' (did you mean '%s'?)", what, k, near)
      end
      fail(w, "%s: unknown key '%s'; valid keys: %s", what, k, concat(allowed, ", "))
    end
  end
end

local function default(v, d)
  if v == nil then return d end
  return v
end

local function describe(v)
  if type(v) == "string" then return fmt("%q", v) end
  return tostring(v)
end

local function int_value(v, what, key, w, min)
  if math_type(v) ~= "integer" then
    if type(v) == "number" and v == floor(v) and math.abs(v) < 2^53 then v = floor(v)
    else fail(w, "%s: '%s' must be an integer, got %s", what, key, describe(v)) end
  end
  if min and v < min then
    fail(w, "%s: '%s' must be at least %d, got %d", what, key, min, v)
  end
  return v
end

local function num_value(v, what, key, w, lo, hi)
  if type(v) ~= "number" then
    fail(w, "%s: '%s' must be a number, got %s", what, key, describe(v))
  end
  if v ~= v or v == math.huge or v == -math.huge then -- NaN passes every comparison below
    fail(w, "%s: '%s' must be a finite number, got %s", what, key, tostring(v))
  end
  if (lo and v < lo) or (hi and v > hi) then
    fail(w, "%s: '%s' must lie in [%s, %s], got %s", what, key,
         tostring(lo or "-inf"), tostring(hi or "inf"), tostring(v))
  end
  return v + 0.0
end

local function bool_value(v, what, key, w)
  if type(v) ~= "boolean" then
    fail(w, "%s: '%s' must be true or false, got %s", what, key, describe(v))
  end
  return v
end

-- An integer or a pair {h, w} of integers.
local function pair_value(v, what, key, w, min)
  if type(v) == "table" then
    if #v ~= 2 then fail(w, "%s: '%s' must be an integer or a pair {h, w}", what, key) end
    return int_value(v[1], what, key, w, min), int_value(v[2], what, key, w, min)
  end
  local n = int_value(v, what, key, w, min)
  return n, n
end

---------------------------------------------------------------------------
-- layers: each constructor returns a plain table with `kind`, its numbers,
-- and the file and line of the call (for the C side's shape checks).

local LAYER = { __metatable = "a layer" } -- the metatable that marks a layer table

local function layer(kind, fields, w)
  fields.kind, fields.src, fields.line = kind, w.src, w.line
  return setmetatable(fields, LAYER)
end

local function opt_table(t, what, w)
  if t == nil then return {} end
  if type(t) ~= "table" then
    fail(w, "%s: expected a table of options like %s{...}, got %s", what, what, describe(t))
  end
  return t
end

local function no_args(name)
  return function(t)
    local w = where()
    t = opt_table(t, name, w)
    check_keys(t, {}, name, w)
    return layer(name, {}, w)
  end
end

local relu = no_args("relu")
local identity = no_args("identity")
local factorized_reduce = no_args("factorized_reduce")

local CONV_KEYS = { kernel = 1, stride = 1, padding = 1, dilation = 1, groups = 1 }
local function conv(t)
  local w = where()
  t = opt_table(t, "conv", w)
  check_keys(t, CONV_KEYS, "conv", w)
  if t.kernel == nil then fail(w, "conv: 'kernel' is required (e.g. conv{kernel = 3})") end
  local l = {}
  l.kh, l.kw = pair_value(t.kernel, "conv", "kernel", w, 1)
  l.sh, l.sw = pair_value(t.stride or 1, "conv", "stride", w, 1)
  l.ph, l.pw = pair_value(t.padding or 0, "conv", "padding", w, 0)
  l.dh, l.dw = pair_value(t.dilation or 1, "conv", "dilation", w, 1)
  if t.groups == nil or t.groups == 1 then l.groups = 1
  elseif t.groups == "depthwise" then l.groups = 0
  else l.groups = int_value(t.groups, "conv", "groups", w, 1) end
  return layer("conv", l, w)
end

local BN_KEYS = { affine = 1, search_only = 1 }
local function bn(t)
  local w = where()
  t = opt_table(t, "bn", w)
  check_keys(t, BN_KEYS, "bn", w)
  local l = { affine = "eval", search_only = false }
  if t.affine ~= nil then
    if t.affine == "eval" or t.affine == true or t.affine == false then l.affine = t.affine
    else fail(w, "bn: 'affine'' must be true, false or \"eval\" (affine in the evaluation network only), got %s",
              describe(t.affine)) end
  end
  if l.affine == true then l.affine = "always" elseif l.affine == false then l.affine = "never" end
  if t.search_only ~= nil then l.search_only = bool_value(t.search_only, "bn", "search_only", w) end
  return layer("bn", l, w)
end

local POOL_KEYS = { kernel = 1, stride = 1, padding = 1 }
local function pool(kind)
  return function(t)
    local w = where()
    t = opt_table(t, kind, w)
    check_keys(t, POOL_KEYS, kind, w)
    local l = {}
    l.kh, l.kw = pair_value(t.kernel or 3, kind, "kernel", w, 1)
    l.sh, l.sw = pair_value(t.stride or 1, kind, "stride", w, 1)
    local dp = (t.kernel == nil) and 1 or nil
    l.ph, l.pw = pair_value(t.padding or dp or 0, kind, "padding", w, 0)
    return layer(kind, l, w)
  end
end

-- A flat list of layers from layers and (nested) lists of layers.
local function flatten(v, out, what, w)
  if getmt(v) == LAYER then out[#out + 1] = v; return out end
  if type(v) ~= "table" then
    fail(w, "%s: expected a layer such as relu() or conv{...}, got %s", what, describe(v))
  end
  for k in pairs(v) do
    if math_type(k) ~= "integer" then
      fail(w, "%s: a layer list holds layers in order; unexpected key '%s'", what, tostring(k))
    end
  end
  for _, x in ipairs(v) do flatten(x, out, what, w) end
  return out
end

local function seq(t) return flatten(t, {}, "seq", where()) end

---------------------------------------------------------------------------
-- primitives

local PRIM = { __metatable = "a primitive" }
local PRIM_KEYS = { name = 1, layers = 1, darts_name = 1 }

local function primitive(t)
  local w = where()
  if type(t) ~= "table" then fail(w, "primitive: expected primitive{name = ..., layers = function(stride) ... end}") end
  check_keys(t, PRIM_KEYS, "primitive", w)
  if type(t.name) ~= "string" or not t.name:match("^[%a_][%w_]*$") then
    fail(w, "primitive: 'name' must be an identifier-like string, got %s", describe(t.name))
  end
  local what = "primitive '" .. t.name .. "'"
  if type(t.layers) ~= "function" and type(t.layers) ~= "table" then
    fail(w, "%s: 'layers' must be a function(stride) returning layers, or a list of layers", what)
  end
  if t.darts_name ~= nil and type(t.darts_name) ~= "string" then
    fail(w, "%s: 'darts_name' must be a string", what)
  end
  return setmetatable({ name = t.name, layers = t.layers, darts_name = t.darts_name or t.name,
                        src = w.src, line = w.line }, PRIM)
end

-- The layers of primitive P at a given stride, as a flat list.
local function expand_primitive(p, stride)
  local v = p.layers
  if type(v) == "function" then
    local ok, res = pcall(v, stride)
    if not ok then error(res, 0) end
    v = res
  end
  local what = fmt("primitive '%s' (%s:%d) at stride %d", p.name, p.src, p.line, stride)
  local list = flatten(v, {}, what, { src = p.src, line = p.line })
  if #list == 0 then error(fmt("%s: has no layers", what), 0) end
  return list
end

---------------------------------------------------------------------------
-- the space

-- spaces, by the read-only face a space file gets of them (weak: a space
-- the file drops is collected)
local SPACES = setmetatable({}, { __mode = "k" })
local RAW = setmetatable({}, { __mode = "k" }) -- a face's own table

local function darts_reductions(cells)
  return { cells // 3, 2 * cells // 3 }
end

local NETWORK_KEYS = { input = 1, classes = 1, channels = 1, cells = 1, stem_multiplier = 1,
                       reductions = 1, auxiliary = 1, auxiliary_weight = 1, drop_path = 1,
                       label_smoothing = 1, stem = 1 }
local INPUT_KEYS = { channels = 1, size = 1 }
local CELL_KEYS = { nodes = 1, inputs = 1, primitives = 1 }
local SEARCH_KEYS = { samples = 1, epochs = 1, batch = 1, lr = 1, lr_min = 1, momentum = 1,
                      weight_decay = 1, grad_clip = 1, arch_lr = 1, arch_betas = 1,
                      temperature = 1, split = 1, data = 1, seed = 1, limit = 1,
                      warmup = 1, temperature_end = 1, uniform_weights = 1, augment = 1 }
local EVAL_KEYS = { cells = 1, channels = 1, reductions = 1, auxiliary = 1, auxiliary_weight = 1,
                    drop_path = 1, cutout = 1, batch = 1, epochs = 1, lr = 1, lr_min = 1,
                    momentum = 1, weight_decay = 1, grad_clip = 1, label_smoothing = 1,
                    input = 1, classes = 1, stem = 1, lr_decay = 1, augment = 1 }
local TRANSFER_KEYS = { cells = 1, channels = 1, auxiliary = 1, auxiliary_weight = 1, cutout = 1,
                        batch = 1, epochs = 1, arch_lr = 1, samples = 1 }
local SPACE_KEYS = { name = 1, description = 1, primitives = 1, cell = 1, network = 1,
                     search = 1, evaluation = 1, transfer = 1 }

local function sub_table(t, key, schema, w)
  local v = t[key]
  if v == nil then return {} end
  if type(v) ~= "table" then fail(w, "space: '%s' must be a table, got %s", key, describe(v)) end
  check_keys(v, schema, "space." .. key, w)
  return v
end

local function reductions_for(spec, cells, what, w)
  local r = spec
  if r == nil or r == "darts" then r = darts_reductions
  end
  if type(r) == "function" then
    local ok, res = pcall(r, cells)
    if not ok then error(res, 0) end
    r = res
    if type(r) ~= "table" then fail(w, "%s: the reductions function must return a list of cell indices", what) end
  elseif type(r) ~= "table" then
    fail(w, "%s: 'reductions' must be \"darts\", a list of 0-based cell indices, or function(cells)", what)
  end
  local seen, out = {}, {}
  for _, v in ipairs(r) do
    local i = int_value(v, what, "reductions", w, 0)
    if i >= cells then fail(w, "%s: reduction cell %d is out of range (the network has cells 0..%d)", what, i, cells - 1) end
    if not seen[i] then seen[i] = true; out[#out + 1] = i end
  end
  sort(out)
  return out
end

-- "darts": one 3x3 conv and BN at the input's resolution (DARTS's CIFAR
-- network); "imagenet": DARTS's NetworkImageNet, three 3x3 convs of stride 2
-- (stem0 to C/2 and C, stem1) before the first cell, which sees a reduction
-- before it, and the ImageNet auxiliary head
local STEMS = { darts = 0, imagenet = 1 }

-- the training images' augmentation (the runtime's recipes, by name)
local AUGMENTS = { auto = true, none = true, flip = true, ["crop-flip"] = true, imagenet = true }

local function augment_value(v, what, w)
  if v == nil then return "auto" end
  if not AUGMENTS[v] then
    fail(w, "%s: 'augment' must be \"auto\", \"none\", \"flip\", \"crop-flip\" or \"imagenet\", got %s", what, describe(v))
  end
  return v
end

local function stem_value(v, what, w)
  if v == nil then return 0 end
  local k = STEMS[v]
  if k == nil then fail(w, "%s: 'stem' must be \"darts\" or \"imagenet\", got %s", what, describe(v)) end
  return k
end

local function input_value(input, what, w)
  if type(input) ~= "table" then fail(w, "%s: 'input' must be a table {channels = ..., size = ...}", what) end
  check_keys(input, INPUT_KEYS, what .. ".input", w)
  return input
end

local function network_table(n, w)
  local what = "space.network"
  local input = input_value(n.input or {}, what, w)
  local out = {
    input_channels = int_value(input.channels or 3, what, "input.channels", w, 1),
    input_size = int_value(input.size or 32, what, "input.size", w, 1),
    classes = int_value(n.classes or 10, what, "classes", w, 2),
    channels = int_value(n.channels or 16, what, "channels", w, 1),
    cells = int_value(n.cells or 8, what, "cells", w, 1),
    stem_multiplier = int_value(n.stem_multiplier or 3, what, "stem_multiplier", w, 1),
    auxiliary = bool_value(default(n.auxiliary, false), what, "auxiliary", w),
    auxiliary_weight = num_value(n.auxiliary_weight or 0.4, what, "auxiliary_weight", w, 0),
    drop_path = num_value(n.drop_path or 0.0, what, "drop_path", w, 0, 1),
    label_smoothing = num_value(n.label_smoothing or 0.0, what, "label_smoothing", w, 0, 0.99),
    imagenet_stem = stem_value(n.stem, what, w),
  }
  out.reductions = reductions_for(n.reductions, out.cells, what, w)
  return out
end

local function search_table(s, w)
  local what = "space.search"
  local betas = s.arch_betas or { 0.5, 0.999 }
  if type(betas) ~= "table" or #betas ~= 2 then fail(w, "%s: 'arch_betas' must be a pair {beta1, beta2}", what) end
  if s.data ~= nil and type(s.data) ~= "string" then fail(w, "%s: 'data' must be a string such as \"fashion-mnist\"", what) end
  return {
    samples = int_value(s.samples or 8, what, "samples", w, 1),
    epochs = int_value(s.epochs or 50, what, "epochs", w, 1),
    batch = int_value(s.batch or 64, what, "batch", w, 1),
    lr = num_value(s.lr or 0.025, what, "lr", w, 0),
    lr_min = num_value(s.lr_min or 0.001, what, "lr_min", w, 0),
    momentum = num_value(s.momentum or 0.9, what, "momentum", w, 0, 1),
    weight_decay = num_value(s.weight_decay or 3e-4, what, "weight_decay", w, 0),
    grad_clip = num_value(s.grad_clip or 5, what, "grad_clip", w, 0),
    arch_lr = num_value(s.arch_lr or 0.02, what, "arch_lr", w, 0),
    arch_beta1 = num_value(betas[1], what, "arch_betas[1]", w, 0, 1),
    arch_beta2 = num_value(betas[2], what, "arch_betas[2]", w, 0, 1),
    temperature = num_value(s.temperature or 1, what, "temperature", w, 1e-6),
    split = num_value(s.split or 0.5, what, "split", w, 0.01, 0.99),
    data = s.data or "fashion-mnist",
    seed = int_value(s.seed or 0, what, "seed", w, 0),
    limit = int_value(s.limit or 0, what, "limit", w, 0),
    warmup = int_value(s.warmup or 0, what, "warmup", w, 0),
    temperature_end = num_value(s.temperature_end or 0, what, "temperature_end", w, 0),
    uniform_weights = bool_value(default(s.uniform_weights, false), what, "uniform_weights", w),
    augment = augment_value(s.augment, what, w),
  }
end

-- BASE: the network's table as written (its reductions may be a function);
-- NET: as resolved (what the evaluation network inherits)
local function evaluation_table(e, base, net, w)
  local what = "space.evaluation"
  local cells = int_value(e.cells or 20, what, "cells", w, 1)
  local red = e.reductions
  if red == nil and type(base.reductions) == "function" then red = base.reductions end
  local input = input_value(e.input or {}, what, w)
  return {
    input_channels = int_value(input.channels or net.input_channels, what, "input.channels", w, 1),
    input_size = int_value(input.size or net.input_size, what, "input.size", w, 1),
    classes = int_value(e.classes or net.classes, what, "classes", w, 2),
    imagenet_stem = e.stem == nil and net.imagenet_stem or stem_value(e.stem, what, w),
    lr_decay = num_value(e.lr_decay or 0, what, "lr_decay", w, 0, 1),
    augment = augment_value(e.augment, what, w),
    cells = cells,
    channels = int_value(e.channels or 36, what, "channels", w, 1),
    reductions = reductions_for(red, cells, what, w),
    auxiliary = bool_value(default(e.auxiliary, true), what, "auxiliary", w),
    auxiliary_weight = num_value(e.auxiliary_weight or 0.4, what, "auxiliary_weight", w, 0),
    drop_path = num_value(e.drop_path or 0.2, what, "drop_path", w, 0, 1),
    cutout = int_value(e.cutout or 16, what, "cutout", w, 0),
    batch = int_value(e.batch or 96, what, "batch", w, 1),
    epochs = int_value(e.epochs or 600, what, "epochs", w, 1),
    lr = num_value(e.lr or 0.025, what, "lr", w, 0),
    lr_min = num_value(e.lr_min or 0.0, what, "lr_min", w, 0),
    momentum = num_value(e.momentum or 0.9, what, "momentum", w, 0, 1),
    weight_decay = num_value(e.weight_decay or 3e-4, what, "weight_decay", w, 0),
    grad_clip = num_value(e.grad_clip or 5, what, "grad_clip", w, 0),
    label_smoothing = num_value(e.label_smoothing or 0.0, what, "label_smoothing", w, 0, 0.99),
  }
end

local function transfer_table(t, ev, w)
  local what = "space.transfer"
  return {
    cells = int_value(t.cells or ev.cells, what, "cells", w, 1),
    channels = int_value(t.channels or ev.channels, what, "channels", w, 1),
    auxiliary = bool_value(default(t.auxiliary, true), what, "auxiliary", w),
    auxiliary_weight = num_value(t.auxiliary_weight or 0.4, what, "auxiliary_weight", w, 0),
    cutout = int_value(t.cutout or 16, what, "cutout", w, 0),
    batch = int_value(t.batch or 96, what, "batch", w, 1),
    epochs = int_value(t.epochs or 10, what, "epochs", w, 1),
    arch_lr = num_value(t.arch_lr or 0.01, what, "arch_lr", w, 0),
    samples = int_value(t.samples or 0, what, "samples", w, 0),
  }
end

local default_primitives -- set by api.env: the DARTS set, from examples/darts.lua

local function primitives_table(list, w)
  if list == nil then list = default_primitives() end
  if type(list) ~= "table" or #list == 0 then
    fail(w, "space: 'primitives' must be a non-empty list of primitive{...}")
  end
  local out, seen = {}, {}
  for i, p in ipairs(list) do
    if getmt(p) ~= PRIM then
      fail(w, "space: primitives[%d] is not made by primitive{...} (got %s)", i, describe(p))
    end
    if seen[p.name] then
      fail(w, "space: primitive '%s' is defined twice (%s:%d and %s:%d)", p.name,
           seen[p.name].src, seen[p.name].line, p.src, p.line)
    end
    seen[p.name] = p
    out[#out + 1] = p
  end
  return out, seen
end

local function cell_table(c, prims, byname, w)
  local what = "space.cell"
  local cell = {
    nodes = int_value(c.nodes or 4, what, "nodes", w, 1),
    inputs = int_value(c.inputs or 2, what, "inputs", w, 1),
  }
  local chosen = prims
  if c.primitives ~= nil then
    if type(c.primitives) ~= "table" or #c.primitives == 0 then
      fail(w, "%s: 'primitives' must be a non-empty list of primitive names", what)
    end
    chosen = {}
    local names = sorted_keys(byname)
    for _, name in ipairs(c.primitives) do
      local p = byname[name]
      if not p then
        local near = type(name) == "string" and nearest(name, names)
        fail(w, "%s: primitive '%s' is used but not defined%s; defined: %s", what, tostring(name),
             near and fmt(" (did you mean '%s'?)", near) or "", concat(names, ", "))
      end
      chosen[#chosen + 1] = p
    end
  end
  return cell, chosen
end

-- A read-only face of the space T built (and of its parts): a space file
-- that assigns to it after space{...} is told where, instead of its edit
-- reaching the C side unchecked.  Parts are faced on first read.
local function read_only(t, what)
  local faces = {}
  local face = setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if type(v) ~= "table" or getmt(v) == LAYER or getmt(v) == PRIM then return v end
      if not faces[k] then faces[k] = read_only(v, what .. "." .. tostring(k)) end
      return faces[k]
    end,
    __newindex = function(_, k)
      fail(where(), "%s is read-only once space{...} has built it (setting '%s'): give the value in space{...}, " ..
                    "or build a new space with extend(space, {...})", what, tostring(k))
    end,
    __len = function() return #t end,
    __pairs = function(self)
      return function(_, k)
        local nk = next(t, k)
        if nk == nil then return nil end
        return nk, self[nk]
      end, self, nil
    end,
    __metatable = "read-only",
  })
  if what == "the space" then SPACES[face] = true end
  RAW[face] = t
  return face
end

local function space(t)
  local w = where()
  if type(t) ~= "table" then fail(w, "space: expected space{...}, got %s", describe(t)) end
  if SPACES[t] then return t end
  check_keys(t, SPACE_KEYS, "space", w)
  if t.name ~= nil and type(t.name) ~= "string" then fail(w, "space: 'name' must be a string") end
  local prims, byname = primitives_table(t.primitives, w)
  local cell_spec = sub_table(t, "cell", CELL_KEYS, w)
  local cell, chosen = cell_table(cell_spec, prims, byname, w)
  local net_spec = sub_table(t, "network", NETWORK_KEYS, w)
  local net = network_table(net_spec, w)
  local ev = evaluation_table(sub_table(t, "evaluation", EVAL_KEYS, w), net_spec, net, w)
  local out = {
    name = t.name or w.src:match("([^/]+)%.lua$") or "space",
    description = t.description,
    src = w.src, line = w.line,
    spec = t,
    primitives = chosen,
    cell = cell,
    network = net,
    search = search_table(sub_table(t, "search", SEARCH_KEYS, w), w),
    evaluation = ev,
    transfer = transfer_table(sub_table(t, "transfer", TRANSFER_KEYS, w), ev, w),
  }
  -- expand every primitive now so that errors inside layer functions surface
  -- at load time, with their own file and line
  for _, p in ipairs(chosen) do
    p.stride1 = expand_primitive(p, 1)
    p.stride2 = expand_primitive(p, 2)
  end
  return read_only(out, "the space")
end

-- A copy of TABLE with OVERRIDES merged in, key by key, recursively for
-- plain tables (lists and constructor results are replaced whole).
local function extend(base, overrides)
  if SPACES[base] then base = RAW[base].spec end
  local w = where()
  if type(base) ~= "table" then fail(w, "extend: the first argument must be a table or a space") end
  if overrides ~= nil and type(overrides) ~= "table" then fail(w, "extend: the second argument must be a table") end
  local function merge(a, b)
    local out = {}
    for k, v in pairs(a) do out[k] = v end
    for k, v in pairs(b or {}) do
      local plain = type(v) == "table" and getmt(v) == nil and #v == 0
      if plain and type(out[k]) == "table" and getmt(out[k]) == nil and #out[k] == 0 then
        out[k] = merge(out[k], v)
      else
        out[k] = v
      end
    end
    return out
  end
  return merge(base, overrides)
end

---------------------------------------------------------------------------
-- the sandbox

local FORBIDDEN = { io = 1, os = 1, debug = 1, require = 1, load = 1, loadfile = 1, dofile = 1,
                    loadstring = 1, package = 1, collectgarbage = 1, coroutine = 1 }

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- pcall and xpcall that cannot swallow a limit: once the space file has run
-- past its time, instruction or memory budget (api.limit_hit, set by the C
-- hook), the error goes on up whatever catches it.
local function guarded(call)
  return function(...)
    local r = table.pack(call(...))
    if not r[1] and api.limit_hit() then
      error(fmt("%s: the space file ran past its time, instruction or memory limit (an endless loop?); catching " ..
                "the error does not stop it", where().src), 0)
    end
    return table.unpack(r, 1, r.n)
  end
end

-- Lua's pattern matching runs in C, where no instruction count or deadline
-- can stop it, and some patterns take exponential time (a*a*a*...b).  In a
-- space file a pattern may repeat at most two of its items (*, +, -, ?) and
-- search at most 4096 bytes; plain finds are free.
local PATTERN_SPECIALS = "*+-?"
local function bounded(name, f)
  return function(s, p, ...)
    if type(p) == "string" and not (name == "find" and select(2, ...) == true) then
      local reps, i = 0, 1
      while i <= #p do
        local c = string.sub(p, i, i)
        if c == "%" then i = i + 1 elseif string.find(PATTERN_SPECIALS, c, 1, true) then reps = reps + 1 end
        i = i + 1
      end
      if reps > 0 and (reps > 2 or (type(s) == "string" and #s > 4096)) then
        fail(where(), "string.%s: patterns in a space file may repeat at most 2 items and search at most 4096 " ..
                      "bytes (this one repeats %d in %d bytes): Lua's matching cannot be time-limited", name, reps,
                      type(s) == "string" and #s or 0)
      end
    end
    return f(s, p, ...)
  end
end

local safe_string = copy(string)
safe_string.dump = nil
for _, name in ipairs({ "find", "match", "gmatch", "gsub" }) do safe_string[name] = bounded(name, string[name]) end
-- ("x"):method() reaches the string library through the strings' metatable:
-- it serves the same safe copy (string.dump included, which it hid before)
getmetatable("").__index = safe_string

-- LOADER(name) returns the embedded example `name` as a space: import "darts".
function api.env(loader)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = guarded(pcall),
    select = select, tonumber = tonumber, tostring = tostring, type = type, xpcall = guarded(xpcall),
    rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = rawset,
    setmetatable = function(t, mt)
      local w = where()
      if type(t) ~= "table" or (mt ~= nil and type(mt) ~= "table") then
        fail(w, "setmetatable: expected a table and a metatable (or nil), got %s and %s", describe(t), describe(mt))
      end
      if getmetatable(t) ~= nil and type(getmetatable(t)) ~= "table" then
        fail(w, "setmetatable: cannot change a protected metatable (%s)", tostring(getmetatable(t)))
      end
      -- finalisers and to-be-closed handlers would run outside the space
      -- file's time limit (at close); weak tables serve no space
      if mt and (rawget(mt, "__gc") ~= nil or rawget(mt, "__close") ~= nil or rawget(mt, "__mode") ~= nil) then
        fail(w, "setmetatable: __gc, __close and __mode are not available in a space file")
      end
      return setmetatable(t, mt)
    end,
    getmetatable = function(v) if type(v) == "string" then return nil end return getmetatable(v) end,
    math = copy(math), string = safe_string, table = copy(table), utf8 = copy(utf8),
    print = function(...) api.print(...) end,
    relu = relu, conv = conv, bn = bn, avg_pool = pool("avg_pool"), max_pool = pool("max_pool"),
    identity = identity, factorized_reduce = factorized_reduce, seq = seq,
    primitive = primitive, space = space, extend = extend,
    import = function(name)
      if type(name) ~= "string" then fail(where(), "import: expected the name of a bundled space, e.g. import \"darts\"") end
      local ok, res = pcall(loader, name)
      if not ok then error(res, 0) end
      return res
    end,
    _VERSION = _VERSION,
  }
  env._G = env
  default_primitives = function() return loader("darts").primitives end
  local names = sorted_keys(env)
  return setmetatable(env, {
    __index = function(_, k)
      local w = where()
      if FORBIDDEN[k] then
        fail(w, "'%s' is not available: space files run in a sandbox without io, os, debug, " ..
                "require or load (a space describes layers and a network; it cannot touch files or processes)", k)
      end
      local near = type(k) == "string" and nearest(k, names)
      fail(w, "unknown name '%s'%s", tostring(k), near and fmt(" (did you mean '%s'?)", near) or "")
    end,
  })
end

function api.finish(v, chunk)
  if not SPACES[v] then
    if type(v) == "table" and getmt(v) == nil then
      local ok, res = pcall(space, v)
      if not ok then error(res, 0) end
      v = res
    else
      error(fmt("%s: the file must end with `return space{...}`, it returned %s", chunk, describe(v)), 0)
    end
  end
  return v
end

return api
