"""One module per ``openem`` command; :mod:`openem_build.cli` only wires argparse to them."""
