#!/usr/bin/env bash
# Runs a test executable on NP MPI ranks of this machine: mpi_run.sh WITH_MPI
# NP COMMAND...  Skipped (77) where parsec was built without MPI or mpirun
# is missing; a rank that fails ends the job (the test aborts), and a job
# that hangs is ended after 300 s.
set -u
with_mpi=$1 np=$2
shift 2
if [ "$with_mpi" != 1 ] || ! command -v mpirun >/dev/null; then
  echo "skipped: built without MPI, or no mpirun (Debian: apt-get install libopenmpi-dev openmpi-bin)"
  exit 77
fi
# Open MPI refuses root unless told, the ranks may exceed the cores here,
# and on one machine it needs no ssh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent:-false}
# under the sanitizers, no leak report from the ranks: Open MPI's plugins,
# unloaded by exit, leave their allocations behind
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# mpirun exits with the first non-zero status of a rank: 77 when the test
# skipped
exec timeout 300 mpirun -np "$np" --oversubscribe "$@"
