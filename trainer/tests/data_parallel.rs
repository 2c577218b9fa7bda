//! Data-parallel training under MPI: `mpirun -np 2 trainer train` on this machine, on the
//! CPU backend with a tiny model, against one process training the same global batch.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    TRAIN, assert_eval_matches, assert_same_epochs, check_checkpoints, check_finished_checkpoints,
    epochs, fashionai_root, multi_task_run, prepare, read_json, temp_dir, train, trainer,
};

/// `mpirun` as the tests start it: as many ranks as asked on this machine whatever its cores,
/// waiting ranks yielding them to the others (the tests run side by side), and allowed to run
/// as root (containers, CI).
fn mpirun() -> Command {
    let mut command = Command::new("mpirun");
    command
        .args(["--oversubscribe", "--bind-to", "none"])
        .args(["--mca", "mpi_yield_when_idle", "1"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir());
    command
}

/// `trainer train --run <run> <args>` as `ranks` processes.
fn train_ranks(ranks: usize, run: &Path, args: &[&str]) -> Output {
    let output = mpirun()
        .args(["-np", &ranks.to_string(), env!("CARGO_BIN_EXE_trainer")])
        .args(["train", "--run", run.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    log(&output);
    output
}

fn log(output: &Output) {
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A run folder in `dir` prepared from `per_class` generated images of each class, with
/// `val` of them for validation.
fn prepared(dir: &Path, per_class: usize, val: &str) -> PathBuf {
    let (data, run) = (dir.join("data"), dir.join("run"));
    fashionai_root(&data, per_class, &[]);
    assert!(
        prepare(&data, &run, &["--val-fraction", val])
            .status
            .success()
    );
    run
}

/// A copy of the split of `run` (nothing trained) named `name` beside it.
fn copy_split(run: &Path, name: &str) -> PathBuf {
    let copy = run.with_file_name(name);
    fs::create_dir_all(&copy).unwrap();
    for file in ["dataset.json", "train.csv", "val.csv"] {
        fs::copy(run.join(file), copy.join(file)).unwrap();
    }
    copy
}

/// The recipe of these tests: [`TRAIN`] on the CPU from random weights.
fn recipe(epochs: &str) -> Vec<&str> {
    recipe_on("cpu", epochs)
}

fn recipe_on<'a>(device: &'a str, epochs: &'a str) -> Vec<&'a str> {
    [
        TRAIN,
        &[
            "--pretrained",
            "none",
            "--device",
            device,
            "--epochs",
            epochs,
        ],
    ]
    .concat()
}

/// The values of a checkpoint's model parameters by name, and of its optimiser's state by the
/// name of the parameter it belongs to (the files key it by parameter ids, which differ
/// between processes).
fn trained_state(run: &Path, epoch: usize) -> BTreeMap<String, Vec<f32>> {
    let read = |part: &str| {
        let path = run.join(format!("checkpoint/{part}-{epoch}.bpk"));
        burn_pack::Reader::from_file(&path)
            .unwrap()
            .into_tensors()
            .unwrap()
    };
    let floats = |tensor: &burn_pack::Tensor| -> Vec<f32> {
        tensor
            .to_bytes()
            .unwrap()
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let mut state = BTreeMap::new();
    let mut names = BTreeMap::new();
    for tensor in read("model") {
        // BatchNorm's running statistics are not trained (each rank takes rank 0's).
        if tensor.name.contains("running_") {
            continue;
        }
        if let Some(id) = tensor.param_id {
            names.insert(id.to_string(), tensor.name.clone());
        }
        state.insert(tensor.name.clone(), floats(&tensor));
    }
    for tensor in read("optim") {
        let (id, what) = tensor.name.split_once('.').unwrap();
        let param = names
            .get(id)
            .unwrap_or_else(|| panic!("{} has no parameter", tensor.name));
        state.insert(format!("{param} {what}"), floats(&tensor));
    }
    state
}

/// Two ranks, each taking half of every batch of 8, take the same three SGD steps as one
/// process taking the whole batch in two passes of 4 (`--accumulate 2`): the same parts of
/// the same batches, so BatchNorm normalises over the same images.
#[test]
fn two_ranks_train_as_one_process_accumulating() {
    let dir = temp_dir("ranks-equal");
    assert_two_ranks_train_as_one_process(&prepared(&dir, 10, "0.2"));
}

/// The same for a model of several tasks, whose batches mix the tasks: the masked loss, the
/// garment head, and the validation gathered with each image's task.
#[test]
fn two_ranks_train_several_tasks_as_one_process_accumulating() {
    let dir = temp_dir("ranks-tasks");
    let (_, run) = multi_task_run(&dir, 4, 0, "0.2");
    let two = assert_two_ranks_train_as_one_process(&run);
    // Validation on two ranks, gathered with each image's task, gives one process's numbers.
    let evaluated = trainer(&["eval", "--run", two.to_str().unwrap(), "--device", "cpu"]);
    assert!(evaluated.status.success());
    let report = read_json(&two.join("eval.json"));
    assert_eq!(report["tasks"].as_array().unwrap().len(), 3);
    assert_eval_matches(&report, &epochs(&two)[0]["valid"], "two ranks");
}

/// Trains copies of the split of `run` (three steps of 8 images) for one epoch: on one
/// process with `--accumulate 2`, and on two ranks; the weights, the optimiser's state and
/// the training numbers agree. Returns the two ranks' run.
fn assert_two_ranks_train_as_one_process(run: &Path) -> PathBuf {
    let info = read_json(&run.join("dataset.json"));
    assert_eq!(
        info["counts"]["train"].as_u64().unwrap() / 8,
        3,
        "three steps"
    );
    let (one, two) = (copy_split(run, "one"), copy_split(run, "two"));

    let single = train(&one, &[recipe("1"), vec!["--accumulate", "2"]].concat());
    assert!(single.status.success());
    let ranks = train_ranks(2, &two, &recipe("1"));
    assert!(ranks.status.success());

    let (expected, got) = (trained_state(&one, 1), trained_state(&two, 1));
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    // Both trained: the optimiser has momentum.
    let moved =
        |name: &String| name.contains("velocity") && expected[name].iter().any(|v| *v != 0.0);
    assert!(expected.keys().any(moved));
    let mut worst = (0.0f32, String::new());
    for (name, a) in &expected {
        let b = &got[name];
        let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let difference = a
            .iter()
            .zip(b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        if difference / scale > worst.0 {
            worst = (difference / scale, name.clone());
        }
    }
    eprintln!("largest relative difference: {:e} ({})", worst.0, worst.1);
    assert!(worst.0 <= 1e-5, "{} differs by {:e}", worst.1, worst.0);
    // Not validation: BatchNorm's running statistics are rank 0's, not the whole batch's.
    assert_same_epochs(&epochs(&two), &epochs(&one), &["train"], "two ranks");
    two
}

/// Two ranks end to end: one record of each epoch and one set of checkpoints, written by
/// rank 0; `eval` of the best checkpoint (one process) gives the validation numbers the two
/// ranks logged. The last validation batch has one image, so rank 0 validates none of it.
#[test]
fn two_ranks_record_once_and_validate_as_one_process() {
    let dir = temp_dir("ranks-record");
    let run = prepared(&dir, 12, "0.25");
    let info = read_json(&run.join("dataset.json"));
    assert_eq!(info["counts"]["val"].as_u64().unwrap() % 8, 1);
    let output = train_ranks(2, &run, &recipe("2"));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in ["epoch 1/2", "epoch 2/2", "done: best validation"] {
        assert_eq!(stdout.matches(line).count(), 1, "{line}: {stdout}");
    }
    let recorded = epochs(&run);
    assert_eq!(recorded.len(), 2);
    let names = check_finished_checkpoints(&run);
    assert_eq!(names.len(), 6, "{names:?}");

    let best = read_json(&run.join("metrics.json"))["best_epoch"]
        .as_u64()
        .unwrap();
    let logged = &recorded[best as usize - 1]["valid"];
    let evaluated = trainer(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu"]);
    assert!(evaluated.status.success());
    let report = read_json(&run.join("eval.json"));
    assert_eval_matches(&report, logged, "two ranks");
}

/// A run trained by one process continues on two ranks: the batches are the global ones
/// whatever the number of ranks, so a run can change it when it resumes.
#[test]
fn a_run_resumes_on_another_number_of_ranks() {
    let dir = temp_dir("ranks-resume");
    let run = prepared(&dir, 12, "0.25");
    assert!(train(&run, &recipe("2")).status.success());
    // As if the process had died during epoch 2's checkpoint.
    for part in ["model", "optim", "scheduler"] {
        fs::remove_file(run.join(format!("checkpoint/{part}-2.bpk"))).unwrap();
    }
    let resumed = train_ranks(2, &run, &["--resume", "--device", "cpu"]);
    assert!(resumed.status.success());
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert_eq!(
        stdout.matches("resuming after epoch 1").count(),
        1,
        "{stdout}"
    );
    assert_eq!(epochs(&run).len(), 2);
    assert!(run.join("checkpoint/model-2.bpk").is_file());
}

/// The processes whose command line names `run`, and the MPI rank of each.
fn ranks_training(run: &Path) -> Vec<(u32, Option<String>)> {
    let run = run.to_str().unwrap();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.contains(run) || cmdline.contains("mpirun") {
            continue;
        }
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        let rank = String::from_utf8_lossy(&environ)
            .split('\0')
            .find_map(|v| v.strip_prefix("OMPI_COMM_WORLD_RANK=").map(str::to_string));
        found.push((pid, rank));
    }
    found
}

/// SIGKILL one of two ranks mid-run: the launcher ends the other within a minute, naming the
/// rank; the newest checkpoint is complete, and two ranks resume the run to its end.
#[test]
fn a_killed_rank_ends_the_run_and_two_ranks_resume_it() {
    let dir = temp_dir("ranks-kill");
    let run = prepared(&dir, 12, "0.25");
    let log = dir.join("train.log");
    let file = fs::File::create(&log).unwrap();
    let mut launcher = mpirun()
        .args(["-np", "2", env!("CARGO_BIN_EXE_trainer")])
        .args(["train", "--run", run.to_str().unwrap()])
        .args(recipe("6"))
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !run.join("checkpoint/model-1.bpk").exists() {
        assert!(
            launcher.try_wait().unwrap().is_none(),
            "training ended early"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no epoch in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ranks = ranks_training(&run);
    let (victim, _) = ranks
        .iter()
        .find(|(_, rank)| rank.as_deref() == Some("1"))
        .unwrap_or_else(|| panic!("no rank 1 among {ranks:?}"));
    assert!(
        Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = launcher.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "still running after a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The launcher has reaped its ranks by the time it exits.
    assert!(
        ranks_training(&run).is_empty(),
        "{:?}",
        ranks_training(&run)
    );
    let output = fs::read_to_string(&log).unwrap();
    eprintln!("{output}");
    assert!(!status.success());
    assert!(output.contains("rank 1"), "{output}");
    check_checkpoints(&run);

    let resumed = train_ranks(2, &run, &["--resume", "--device", "cpu"]);
    assert!(resumed.status.success());
    assert_eq!(epochs(&run).len(), 6);
    check_finished_checkpoints(&run);
}

/// Setups that cannot train end every rank with a message, quickly: a batch that does not
/// split into the ranks' passes, and a rank whose device does not open.
#[test]
fn bad_setups_end_every_rank_with_a_message() {
    let dir = temp_dir("ranks-bad");
    let run = prepared(&dir, 4, "0.25");
    let started = Instant::now();
    // Passes of 8 / 8 images would do for one process, not for two.
    let uneven = train_ranks(2, &run, &[recipe("1"), vec!["--accumulate", "8"]].concat());
    assert!(!uneven.status.success());
    let stderr = String::from_utf8_lossy(&uneven.stderr);
    assert!(
        stderr.contains("--batch-size 8 cannot be split into 2 ranks x --accumulate 8"),
        "{stderr}"
    );

    // Rank 1 asks for an adapter that does not exist; rank 0 is left waiting for it.
    let trainer = env!("CARGO_BIN_EXE_trainer");
    let run_arg = run.to_str().unwrap();
    let mut command = mpirun();
    command
        .args(["-np", "1", trainer, "train", "--run", run_arg])
        .args(recipe("1"));
    command
        .args([":", "-np", "1", trainer, "train", "--run", run_arg])
        .args(recipe_on("gpu:9", "1"));
    let one_fails = command.output().unwrap();
    log(&one_fails);
    assert!(!one_fails.status.success());
    let stderr = String::from_utf8_lossy(&one_fails.stderr);
    assert!(
        stderr.contains("error on rank 1 of 2: there is no gpu:9"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}
