"""Contract test kits that ship with Shifo, so an adapter package can prove itself against a port."""
