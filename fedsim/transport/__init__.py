"""How messages reach virtual clients: the virtual grid, packing, client store, array codecs."""
