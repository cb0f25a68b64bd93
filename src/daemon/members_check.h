/* members_check.h - raftd --check-config: the config file's members list
 * against the cluster's configuration (members_check.c). */
#ifndef RAFTD_MEMBERS_CHECK_H
#define RAFTD_MEMBERS_CHECK_H

#include "config.h"

/* Print on stdout how cfg's members differ from the running cluster's
 * configuration (or, if the node does not answer, from the data
 * directory's bootstrap record), or that they do not. */
void members_check_print(const struct raftd_config *cfg);

#endif
