"""The maths of one agent, without any run machinery: the networks and their hand-written
backward passes, the squashed-Gaussian head, Adam over flat buffers, the running
normalisers, block-drawn noise, and the acting side (``policy``, ``acting_net``: the actor's
forward pass in numpy for the env process)."""
