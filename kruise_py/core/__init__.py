"""Pure mechanisms shared by the controllers (revisions and hashing, in-place update, availability,
ordinals, int-or-percent, priority sort, lifecycle states). No I/O: plain data in, plain data out."""
