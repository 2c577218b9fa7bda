//! Crash safety of `trainer train`: SIGKILL at random moments, then `--resume`, again and
//! again; a disk that fills up while a checkpoint is written; two trainers on one run folder;
//! a device failure while a checkpoint is written. With a tiny model, through the real binary,
//! on the CPU backend (the device failure on wgpu).
//!
//! `TRAINER_TEST_KILLS` sets the number of kills (5 by default; `scripts/kill-resume.sh`
//! runs 20) and `TRAINER_TEST_SEED` the seed of the kill moments (printed on every run).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::common::{
    TRAIN, assert_same_epochs, check_checkpoints, check_finished_checkpoints, copy_dir, epochs,
    fashionai_root, prepare, read_json, temp_dir, trainer, trainer_with_env,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use trainer::train::checkpoint::latest_complete;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `trainer train --run <run> <TRAIN> --epochs <epochs> [--resume]` on the CPU, its stdout and stderr
/// appended to `<log>`.
fn spawn_train(run: &Path, epochs: usize, resume: bool, log: &Path) -> Child {
    let log = File::options().create(true).append(true).open(log).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_trainer"));
    command
        .args(["train", "--run", run.to_str().unwrap()])
        .args(TRAIN)
        .args(["--pretrained", "none", "--device", "cpu"])
        .args(["--epochs", &epochs.to_string()])
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if resume {
        command.arg("--resume");
    }
    command.spawn().unwrap()
}

/// The epochs `metrics.json` records; checks that it and `metrics.csv` parse and agree,
/// numbered 1, 2, ... without gaps or repeats.
fn recorded_epochs(run: &Path) -> usize {
    let path = run.join("metrics.json");
    if !path.exists() {
        assert!(!run.join("metrics.csv").exists());
        return 0;
    }
    let epochs: Vec<u64> = read_json(&path)["epochs"]
        .as_array()
        .expect("metrics.json holds a list of epochs")
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=epochs.len() as u64).collect();
    assert_eq!(epochs, expected, "metrics.json epochs");
    let csv = fs::read_to_string(run.join("metrics.csv")).unwrap();
    let csv_epochs: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(csv_epochs, expected, "metrics.csv epochs:\n{csv}");
    epochs.len()
}

#[test]
fn survives_random_kills_and_resumes() {
    let kills: usize = env_or("TRAINER_TEST_KILLS", 5);
    let seed: u64 = env_or(
        "TRAINER_TEST_SEED",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    eprintln!("{kills} kills, TRAINER_TEST_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = temp_dir("kills");
    let (data, run) = (dir.join("data"), dir.join("run"));
    fashionai_root(&data, 40, &[]);
    assert!(prepare(&data, &run, &[]).status.success());
    let log = dir.join("train.log");
    // Enough epochs that the kills land in every part of a run: start-up, training,
    // validation, checkpoint and metrics writes, and across epoch boundaries.
    let epochs = 6 * kills + 6;

    let mut killed = 0;
    let mut resume = false;
    loop {
        let mut child = spawn_train(&run, epochs, resume, &log);
        resume = true;
        if killed == kills {
            let status = child.wait().unwrap();
            assert!(status.success(), "{}", fs::read_to_string(&log).unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1500)));
        if child.try_wait().unwrap().is_some() {
            panic!(
                "training finished after {killed} of {kills} kills:\n{}",
                fs::read_to_string(&log).unwrap()
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
        let recorded = recorded_epochs(&run);
        let saved = latest_complete(&run).unwrap_or(0);
        eprintln!("kill {killed}: {recorded} epochs recorded, checkpoint of epoch {saved}");
        // The metrics are written just before the checkpoint: a kill between the two loses
        // that epoch, never more.
        assert!(
            saved + 1 >= recorded,
            "{recorded} epochs recorded, last checkpoint {saved}"
        );
        check_checkpoints(&run);
    }

    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(recorded_epochs(&run), epochs);
    let names = check_finished_checkpoints(&run);
    let best = read_json(&run.join("metrics.json"))["best_epoch"]
        .as_u64()
        .unwrap();
    assert!(names.contains(&format!("model-{best}.bpk")), "{names:?}");
    assert!(names.contains(&format!("model-{epochs}.bpk")), "{names:?}");
    // Each completed epoch prints one summary line: a kill repeats at most one epoch.
    let trained = text
        .lines()
        .filter(|l| l.starts_with("epoch ") && l.contains(&format!("/{epochs} ")))
        .count();
    eprintln!("{trained} epochs trained for {epochs}, {kills} kills");
    assert!(
        trained <= epochs + kills,
        "{trained} epochs trained for {epochs} with {kills} kills"
    );
}

/// The run folder on a tmpfs that fills up while epoch 2's checkpoint is written
/// (in a user and mount namespace, so no privileges are needed): the run stops with a clear
/// error, epoch 1's checkpoint is intact, and training resumes from it elsewhere.
#[test]
fn full_disk_keeps_the_previous_checkpoint() {
    let dir = temp_dir("full-disk");
    let (data, prepared) = (dir.join("data"), dir.join("prepared"));
    fashionai_root(&data, 8, &[]);
    assert!(prepare(&data, &prepared, &[]).status.success());

    // How much one epoch leaves on disk.
    let sizing = dir.join("sizing");
    copy_dir(&prepared, &sizing);
    let log = dir.join("sizing.log");
    assert!(
        spawn_train(&sizing, 1, false, &log)
            .wait()
            .unwrap()
            .success()
    );
    let used = disk_usage(&sizing);
    let model = fs::metadata(sizing.join("checkpoint/model-1.bpk"))
        .unwrap()
        .len();
    // Room for epoch 1's files and half of epoch 2's model checkpoint.
    let size = used + model / 2;

    let (mount, out) = (dir.join("tmpfs"), dir.join("out"));
    fs::create_dir_all(&mount).unwrap();
    let script = r#"mount -t tmpfs -o "size=$1" tmpfs "$2" || exit 99
        cp -a "$3/." "$2/" && "$4" train --run "$2" "${@:6}"; status=$?
        cp -a "$2/." "$5/"; exit $status"#;
    let output = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "bash",
            "-c",
            script,
            "bash",
        ])
        .arg(size.to_string())
        .args([&mount, &prepared])
        .arg(env!("CARGO_BIN_EXE_trainer"))
        .arg(&out)
        .args(TRAIN)
        .args(["--pretrained", "none", "--device", "cpu"])
        .args(["--epochs", "2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{}{stderr}", String::from_utf8_lossy(&output.stdout));
    assert_ne!(
        output.status.code(),
        Some(99),
        "cannot mount a tmpfs: {stderr}"
    );
    assert!(!output.status.success());
    assert!(
        stderr.contains("training stopped: saving")
            && stderr.contains("-2.bpk: writing")
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert_eq!(latest_complete(&out), Some(1));
    check_finished_checkpoints(&out);

    // On a disk with room, the same command with --resume finishes the run.
    let log = dir.join("resume.log");
    assert!(spawn_train(&out, 2, true, &log).wait().unwrap().success());
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .contains("resuming after epoch 1")
    );
    assert_eq!(recorded_epochs(&out), 2);
}

/// Bytes used, each file rounded up to whole 4 KiB pages as tmpfs counts them.
fn disk_usage(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                disk_usage(&entry.path()) + 4096
            } else {
                meta.len().div_ceil(4096) * 4096
            }
        })
        .sum()
}

/// Waits until `child`, still running, holds the run's lock (its pid is written there).
fn wait_for_lock(run: &Path, child: &mut Child) {
    let holder = format!("pid {} ", child.id());
    let started = std::time::Instant::now();
    while !fs::read_to_string(run.join("trainer.lock")).is_ok_and(|text| text.contains(&holder)) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the trainer ended first"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no lock after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One trainer per run folder: a second `trainer train` on a run being trained is refused at
/// once (without waiting for the first), naming the first one's process, and the first ends
/// with the numbers of a lone run; the lock dies with a SIGKILLed trainer, so `--resume` takes
/// its run at once.
#[test]
fn a_second_trainer_is_refused_and_a_killed_one_leaves_no_lock() {
    let dir = temp_dir("lock");
    let data = dir.join("data");
    fashionai_root(&data, 16, &[]);
    let [run, lone, killed] = ["run", "lone", "killed"].map(|name| dir.join(name));
    for folder in [&run, &lone, &killed] {
        assert!(prepare(&data, folder, &[]).status.success());
    }
    let log = dir.join("train.log");
    let mut first = spawn_train(&run, 8, false, &log);
    wait_for_lock(&run, &mut first);
    let started = std::time::Instant::now();
    let second = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["train", "--run", run.to_str().unwrap()])
        .args(TRAIN)
        .args(["--pretrained", "none", "--device", "cpu", "--epochs", "8"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        stderr.contains("is in use by `trainer train`")
            && stderr.contains(&format!("pid {} ", first.id())),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the second trainer waited"
    );
    assert!(
        first.wait().unwrap().success(),
        "{}",
        fs::read_to_string(&log).unwrap()
    );
    assert!(spawn_train(&lone, 8, false, &log).wait().unwrap().success());
    assert_same_epochs(&epochs(&run), &epochs(&lone), &["train", "valid"], "locked");

    let mut doomed = spawn_train(&killed, 8, false, &log);
    wait_for_lock(&killed, &mut doomed);
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let resumed = spawn_train(&killed, 8, true, &log).wait().unwrap();
    assert!(resumed.success(), "{}", fs::read_to_string(&log).unwrap());
}

/// A device failure in the first step of an epoch, while the last epoch's checkpoint may still
/// be being written (burn-train writes it on its own threads): the checkpoint is complete every
/// time, and `--resume` continues from it. On wgpu (lavapipe in CI), where the failure is
/// injected (`TRAINER_FAIL_AT_STEP`: an allocation over any device's limit); each run trains
/// one epoch and fails at the next one's first step, `TRAINER_TEST_FAILURES` times (10), then
/// a last `--resume` finishes the run.
#[cfg(feature = "wgpu")]
#[test]
fn a_failure_at_an_epochs_first_step_leaves_the_last_checkpoint_whole() {
    let dir = temp_dir("first-step");
    let (data, run) = (dir.join("data"), dir.join("run"));
    fashionai_root(&data, 4, &[]);
    assert!(prepare(&data, &run, &[]).status.success());
    let steps = read_json(&run.join("dataset.json"))["counts"]["train"]
        .as_u64()
        .unwrap()
        / 8;
    let failures: usize = env_or("TRAINER_TEST_FAILURES", 10);
    let (epochs_arg, fail_at) = ((failures + 1).to_string(), (steps + 1).to_string());
    #[rustfmt::skip]
    let args = [
        &["train", "--run", run.to_str().unwrap()], TRAIN,
        &["--epochs", &epochs_arg, "--device", "gpu", "--pretrained", "none"],
    ].concat();
    for epoch in 1..=failures {
        let resume = if epoch > 1 { &["--resume"][..] } else { &[] };
        let failed = trainer_with_env(
            &[("TRAINER_FAIL_AT_STEP", &fail_at)],
            &[&args[..], resume].concat(),
        );
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(!failed.status.success());
        assert!(
            stderr.contains("training stopped: a step failed on")
                && stderr.contains(&format!(
                    "the checkpoint of epoch {epoch} is complete: continue with --resume"
                )),
            "failure {epoch}: {stderr}"
        );
        let names = check_finished_checkpoints(&run);
        for part in ["model", "optim", "scheduler"] {
            let name = format!("{part}-{epoch}.bpk");
            assert!(
                names.contains(&name),
                "failure {epoch}: {name} in {names:?}"
            );
        }
        assert_eq!(latest_complete(&run), Some(epoch));
        // The failed epoch may have run on to its end (the failure surfaces when its weights
        // are read back) and have its metrics recorded; `--resume` drops them.
        assert!((epoch..=epoch + 1).contains(&recorded_epochs(&run)));
    }
    let finished = trainer(&[&args[..], &["--resume"]].concat());
    assert!(finished.status.success());
    assert_eq!(recorded_epochs(&run), failures + 1);
    check_finished_checkpoints(&run);
}
