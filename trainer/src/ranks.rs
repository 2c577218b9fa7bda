//! The processes of a data-parallel run: one per GPU, started by an MPI launcher (`mpirun`,
//! Slurm's `srun`), on one machine or several. With the `mpi` feature, [`join`] connects them
//! through MPI (Open MPI and the `mpi` crate); each process then knows its [`Ranks`] and
//! takes part in the collective operations below. A process started on its own is rank 0 of
//! 1, and every operation here returns its input.

use anyhow::Result;

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

/// The processes an MPI launcher says it started, from its environment, before MPI starts:
/// Open MPI's `mpirun`, MPICH-style PMI and Slurm's `srun`.
fn launched_size() -> usize {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(1)
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

    use super::{Ranks, launched_size};

    static RANKS: OnceLock<Ranks> = OnceLock::new();

    /// MPI for the life of a run: dropping it shuts MPI down.
    pub struct Session {
        _universe: Option<Universe>,
    }

    /// Starts MPI if an MPI launcher started this process (a process started on its own
    /// runs alone, without MPI), and learns this process's ranks.
    pub fn join() -> Result<Session> {
        if launched_size() == 1 && std::env::var_os("PMIX_RANK").is_none() {
            return Ok(Session { _universe: None });
        }
        // Collectives are called from one thread at a time, not always the same one.
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| anyhow!("MPI was already started"))?;
        let world = universe.world();
        let local = world.split_shared(0);
        let ranks = Ranks {
            rank: world.rank() as usize,
            size: world.size() as usize,
            local_rank: local.rank() as usize,
        };
        drop(local);
        if RANKS.set(ranks).is_err() {
            bail!("MPI was already started");
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

    /// Ends every rank of the run, after saying why on this one: a rank that fails must not
    /// leave the others waiting for it in a collective operation.
    pub fn abort(message: &str) -> ! {
        let ranks = world();
        eprintln!("error on rank {} of {}: {message}", ranks.rank, ranks.size);
        comm().abort(1)
    }
}

#[cfg(not(feature = "mpi"))]
mod without_mpi {
    use anyhow::{Result, bail};

    use super::{Ranks, launched_size};

    pub struct Session;

    /// Refuses to run as one of several processes: without MPI they would each train alone.
    pub fn join() -> Result<Session> {
        let size = launched_size();
        if size > 1 {
            bail!(
                "started as one of {size} processes (mpirun or srun), but this trainer was built \
                 without the `mpi` feature: rebuild it with `--features mpi` (needs Open MPI), \
                 or start one process"
            );
        }
        Ok(Session)
    }

    pub fn world() -> Ranks {
        Ranks::SINGLE
    }

    pub fn sum(_values: &mut [f32]) {}

    pub fn gather(local: &[f32]) -> Vec<f32> {
        local.to_vec()
    }

    pub fn abort(message: &str) -> ! {
        eprintln!("error: {message}");
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
