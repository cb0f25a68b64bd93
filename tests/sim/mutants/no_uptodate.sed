# file: election.c
# what: skips the "candidate's log is at least as up to date" check (5.4.1)
# expect: Leader Completeness
s/!up_to_date/0/g
