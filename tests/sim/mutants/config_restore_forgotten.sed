# file: membership.c
# what: a node restarting from a snapshot ignores the configuration the
#       host restores from it (raft_restore_configuration does nothing once
#       the core exists) and starts from its bootstrap configuration
# expect: Configuration in effect
s/^    r->base_conf = \*c;$/    if (r->n_prs)\n        return 0;\n    r->base_conf = *c;/
