//! The processes of a data-parallel run: one per GPU, started by an MPI launcher (`mpirun`,
//! Slurm's `srun`), on one machine or several. With the `mpi` feature, [`join`] connects them
//! through MPI (Open MPI and the `mpi` crate); each process then knows its [`Ranks`] and
//! takes part in the collective operations below. A process started on its own is rank 0 of
//! 1, and every operation here returns its input.

use anyhow::Result;

use crate::device::{self, Compute, DeviceChoice};

/// This process's place in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranks {
    /// 0 to `size - 1`; rank 0 writes the run's files and shows progress.
    pub rank: usize,
    pub size: usize,
    /// The rank among the processes on this machine: which of its GPUs this one takes.
    pub local_rank: usize,
}

impl Ranks {
    pub const SINGLE: Ranks = Ranks {
        rank: 0,
        size: 1,
        local_rank: 0,
    };

    /// Whether this process writes the run's files and talks to the user.
    pub fn is_root(self) -> bool {
        self.rank == 0
    }

    /// The part of `len` items (in order) that this rank takes: contiguous, sizes differing
    /// by at most one.
    pub fn part(self, len: usize) -> std::ops::Range<usize> {
        self.rank * len / self.size..(self.rank + 1) * len / self.size
    }
}

/// Prints on rank 0 only: the other ranks of a data-parallel run do the same work silently.
pub fn say(message: std::fmt::Arguments) {
    if world().is_root() {
        println!("{message}");
    }
}

/// This process's place as its launcher's environment gives it, before MPI starts (Open
/// MPI's `mpirun`, MPICH-style PMI, Slurm's `srun`): what a process started on its own, or
/// by a launcher that says nothing, takes as rank 0 of 1.
pub fn launched() -> Ranks {
    launched_from(|name| std::env::var(name).ok())
}

/// [`launched`], reading the environment through `var`.
fn launched_from(var: impl Fn(&str) -> Option<String>) -> Ranks {
    let first = |names: &[&str]| names.iter().find_map(|&name| var(name)?.parse().ok());
    Ranks {
        rank: first(&["OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]).unwrap_or(0),
        size: first(&["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]).unwrap_or(1),
        local_rank: first(&[
            "OMPI_COMM_WORLD_LOCAL_RANK",
            "MPI_LOCALRANKID",
            "SLURM_LOCALID",
        ])
        .unwrap_or(0),
    }
}

/// Why a trainer built without the `mpi` feature must not run as `launched`: as one of several
/// processes, each would train alone and write the same files.
#[cfg(any(test, not(feature = "mpi")))]
fn refusal_without_mpi(launched: Ranks) -> Option<String> {
    (launched.size > 1).then(|| {
        format!(
            "started as one of {} processes (mpirun or srun), but this trainer was built without \
             the `mpi` feature: rebuild it with `--features mpi` (needs Open MPI), or start one \
             process",
            launched.size
        )
    })
}

/// Runs `f` as this process's rank, on the device `choice` gives the rank. The device is
/// opened before MPI starts: opening one sets environment variables, which must not happen
/// once MPI's threads run. An error on any rank ends them all.
pub fn run_as_rank<T>(choice: DeviceChoice, f: impl FnOnce(&Compute) -> Result<T>) -> Result<T> {
    let compute = or_end_all(device::pick_for_rank(choice, launched()))?;
    let _mpi = join()?;
    or_end_all(f(&compute))
}

/// `result`, or, for one of several ranks, the end of every rank: the others would wait for
/// this one for ever in their next collective operation.
pub fn or_end_all<T>(result: Result<T>) -> Result<T> {
    match result {
        Err(err) if launched().size > 1 => abort(&format!("{err:#}")),
        result => result,
    }
}

/// Runs `f` (which fills a cache, such as a download) on rank 0, then on the first rank of
/// each other machine, then on the others, so that no two ranks write one file at once.
pub fn in_turn<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let me = world();
    let mut result = None;
    for turn in [me.rank == 0, me.local_rank == 0, true] {
        if turn && result.is_none() {
            result = Some(f());
        }
        barrier();
    }
    result.expect("every rank's last turn runs it")
}

#[cfg(feature = "mpi")]
pub use with_mpi::*;
#[cfg(not(feature = "mpi"))]
pub use without_mpi::*;

#[cfg(feature = "mpi")]
mod with_mpi {
    use std::sync::OnceLock;

    use anyhow::{Result, anyhow, bail};
    use mpi::collective::SystemOperation;
    use mpi::datatype::PartitionMut;
    use mpi::environment::Universe;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    use super::{Ranks, launched};

    static RANKS: OnceLock<Ranks> = OnceLock::new();

    /// MPI for the life of a run: dropping it shuts MPI down.
    pub struct Session {
        _universe: Option<Universe>,
    }

    /// Starts MPI if an MPI launcher started this process (a process started on its own
    /// runs alone, without MPI), and learns this process's ranks. Choose the device before:
    /// that sets environment variables, which must not change once MPI runs its threads.
    pub fn join() -> Result<Session> {
        let expected = launched();
        if expected.size == 1 && std::env::var_os("PMIX_RANK").is_none() {
            return Ok(Session { _universe: None });
        }
        // Collectives are called from one thread at a time, not always the same one.
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| anyhow!("MPI was already started"))?;
        let world = universe.world();
        let ranks = Ranks {
            rank: world.rank() as usize,
            size: world.size() as usize,
            local_rank: expected.local_rank,
        };
        if expected.size > 1 && ranks.size != expected.size {
            bail!(
                "started as one of {} processes, but MPI sees {}: the launcher and the MPI \
                 library this trainer was built with do not work together (use that library's \
                 mpirun, or srun with its PMI plugin, e.g. --mpi=pmix)",
                expected.size,
                ranks.size
            );
        }
        if RANKS.set(ranks).is_err() {
            bail!("MPI was already started");
        }
        if ranks.size > 1 {
            // A panic on one rank must end the others too, which wait for it in a collective
            // operation (burn reports some device failures by panicking).
            let report = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                report(info);
                abort("it panicked (above)");
            }));
        }
        Ok(Session {
            _universe: Some(universe),
        })
    }

    /// This process's ranks ([`Ranks::SINGLE`] outside an MPI run).
    pub fn world() -> Ranks {
        RANKS.get().copied().unwrap_or(Ranks::SINGLE)
    }

    fn comm() -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    /// Replaces `values` by their element-wise sum over all ranks.
    pub fn sum(values: &mut [f32]) {
        if world().size == 1 {
            return;
        }
        let mut total = vec![0.0f32; values.len()];
        comm().all_reduce_into(values, &mut total[..], SystemOperation::sum());
        values.copy_from_slice(&total);
    }

    /// Every rank's `local` values, in rank order; ranks may give different lengths.
    pub fn gather(local: &[f32]) -> Vec<f32> {
        if world().size == 1 {
            return local.to_vec();
        }
        let comm = comm();
        let mut counts = vec![0i32; world().size];
        comm.all_gather_into(&(local.len() as i32), &mut counts[..]);
        let displs: Vec<i32> = counts
            .iter()
            .scan(0, |start, &count| {
                let this = *start;
                *start += count;
                Some(this)
            })
            .collect();
        let mut all = vec![0.0f32; counts.iter().map(|&c| c as usize).sum()];
        let mut partition = PartitionMut::new(&mut all[..], counts, displs);
        comm.all_gather_varcount_into(local, &mut partition);
        all
    }

    /// Waits until every rank is here.
    pub fn barrier() {
        if world().size > 1 {
            comm().barrier();
        }
    }

    /// Ends every rank of the run, after saying why on this one.
    pub fn abort(message: &str) -> ! {
        let ranks = RANKS.get().copied().unwrap_or_else(launched);
        eprintln!("error on rank {} of {}: {message}", ranks.rank, ranks.size);
        if mpi::is_initialized() && !mpi::is_finalized() {
            comm().abort(1)
        }
        // Before MPI started: the launcher ends the others when this one exits.
        std::process::exit(1)
    }
}

#[cfg(not(feature = "mpi"))]
mod without_mpi {
    use anyhow::{Result, anyhow};

    use super::{Ranks, launched, refusal_without_mpi};

    pub struct Session;

    /// Refuses to run as one of several processes: without MPI they would each train alone.
    pub fn join() -> Result<Session> {
        match refusal_without_mpi(launched()) {
            Some(refusal) => Err(anyhow!(refusal)),
            None => Ok(Session),
        }
    }

    pub fn world() -> Ranks {
        Ranks::SINGLE
    }

    pub fn sum(_values: &mut [f32]) {}

    pub fn gather(local: &[f32]) -> Vec<f32> {
        local.to_vec()
    }

    pub fn barrier() {}

    pub fn abort(message: &str) -> ! {
        let ranks = launched();
        eprintln!("error on rank {} of {}: {message}", ranks.rank, ranks.size);
        std::process::exit(1)
    }
}

/// Whether every rank holds the same `digest` (of its settings, data lists and starting
/// weights); an error naming the first rank that differs from rank 0.
pub fn check_same(digest: &str, what: &str) -> Result<()> {
    let mine: Vec<f32> = digest.bytes().map(f32::from).collect();
    let all = gather(&mine);
    for (rank, theirs) in all.chunks(mine.len().max(1)).enumerate().skip(1) {
        if theirs != &all[..mine.len()] {
            anyhow::bail!(
                "rank {rank} has different {what} from rank 0: every rank must see the same \
                 run folder (a shared file system) and the same weight files"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Ranks, launched_from, refusal_without_mpi};

    fn environment(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|&(name, value)| (name.into(), value.into()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(known, _)| known == name)
                .map(|(_, value)| value.clone())
        }
    }

    #[test]
    fn launchers_environments_give_the_ranks() {
        let mpirun = [
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
        ];
        let srun = [
            ("SLURM_PROCID", "5"),
            ("SLURM_STEP_NUM_TASKS", "8"),
            ("SLURM_LOCALID", "1"),
        ];
        for (vars, rank, size) in [(&mpirun[..], 3, 4), (&srun[..], 5, 8)] {
            let ranks = launched_from(environment(vars));
            assert_eq!(
                ranks,
                Ranks {
                    rank,
                    size,
                    local_rank: 1
                }
            );
        }
        assert_eq!(launched_from(environment(&[])), Ranks::SINGLE);
    }

    /// What a build without the `mpi` feature says under `mpirun -np 2`, and that it runs alone.
    #[test]
    fn without_mpi_a_process_of_several_is_refused() {
        let under_mpirun = launched_from(environment(&[
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
        ]));
        let refusal = refusal_without_mpi(under_mpirun).expect("refused");
        assert!(
            refusal.contains("one of 2 processes") && refusal.contains("--features mpi"),
            "{refusal}"
        );
        assert_eq!(refusal_without_mpi(Ranks::SINGLE), None);
    }
}
