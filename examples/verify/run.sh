#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the program with no lifeguard in it, then runs it under the installed driver.
#   run.sh PREFIX buggy|fixed
set -e
prefix=$1 variant=$2
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/lifeguard-example-uaf
cc -g -O0 -o "$out" "$here/use_after_free.c"
exec "$prefix/bin/lifeguard" verify -- "$out" "$variant"
