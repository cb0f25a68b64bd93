#!/bin/sh
# Regenerate ./configure and Makefile.in (needs autoconf, automake, pkg-config).
set -e
cd "$(dirname "$0")"
autoreconf -fi
echo "Now run: ./configure && make && make check"
