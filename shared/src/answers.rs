//! What a model says about one photo, the same for `trainer classify --json` and the page:
//! each task's answer (calibrated where the bundle is, with its flags) and, for a model of
//! several tasks, the garment head's guess of which task's garment the photo shows.

use serde::Serialize;

use crate::calibration::{self, Calibration};
use crate::heads::Heads;
use crate::ranking::argmax;

/// One task's answer for a photo.
#[derive(Debug, Serialize)]
pub struct TaskAnswer<'a> {
    pub task: &'a str,
    pub classes: &'a [String],
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    pub top: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_distribution: Option<bool>,
}

/// Which task's garment a photo shows, as the garment head sees it: each task's probability.
#[derive(Debug, Serialize)]
pub struct Garment<'a> {
    pub tasks: Vec<&'a str>,
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    pub top: usize,
}

/// A photo's answers: a model of one task's answer as it always was (flat), or the garment
/// and every task's answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answers<'a> {
    OneTask(TaskAnswer<'a>),
    Tasks {
        garment: Garment<'a>,
        tasks: Vec<TaskAnswer<'a>>,
    },
}

/// The answers of a model with `heads` to a photo's `logits`, each task's answer judged by
/// its calibration (`calibrations`, one per task, `None` where there is none) or else the
/// task's part of `probabilities` (each head's softmax, in the outputs' layout, as
/// `Heads::softmax` gives, or its average over test-time views).
pub fn answers<'a>(
    heads: &'a Heads,
    calibrations: &[Option<&Calibration>],
    logits: &[f32],
    probabilities: &[f32],
) -> Answers<'a> {
    let mut tasks: Vec<TaskAnswer> = heads
        .tasks()
        .iter()
        .enumerate()
        .map(|(index, task)| {
            let columns = heads.columns(index);
            let logits = logits[columns.clone()].to_vec();
            let shown = calibration::answer(calibrations[index], &logits, || {
                probabilities[columns].to_vec()
            });
            TaskAnswer {
                task: &task.name,
                classes: &task.classes,
                top: argmax(&shown.probabilities),
                probabilities: shown.probabilities,
                logits,
                unsure: shown.unsure,
                out_of_distribution: shown.out_of_distribution,
            }
        })
        .collect();
    match heads.garment() {
        None => Answers::OneTask(tasks.remove(0)),
        Some(columns) => {
            let garment = probabilities[columns.clone()].to_vec();
            Answers::Tasks {
                garment: Garment {
                    tasks: heads.tasks().iter().map(|t| t.name.as_str()).collect(),
                    top: argmax(&garment),
                    probabilities: garment,
                    logits: logits[columns].to_vec(),
                },
                tasks,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heads::TaskClasses;

    fn task(name: &str, classes: &[&str]) -> TaskClasses {
        TaskClasses {
            name: name.into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn one_task_answers_flat_as_before() {
        let heads = Heads::new(vec![task("skirt", &["short", "long"])]).unwrap();
        let logits = [0.0, 2.0];
        let json = serde_json::to_value(answers(&heads, &[None], &logits, &heads.softmax(&logits)))
            .unwrap();
        assert_eq!(json["task"], "skirt");
        assert_eq!(json["top"], 1);
        assert!(json.get("unsure").is_none() && json.get("garment").is_none());
    }

    #[test]
    fn several_tasks_answer_each_task_from_its_head_and_the_garment() {
        let heads = Heads::new(vec![task("a", &["x", "y"]), task("b", &["p", "q", "r"])]).unwrap();
        // Task a's head, task b's head, then the garment head (a, b).
        let logits = [1.0, 0.0, 0.0, 0.0, 3.0, -1.0, 1.0];
        // Fitted on two photos of task b, both right: a temperature, and thresholds.
        let calibration =
            Calibration::fit(&[vec![0.0, 0.0, 3.0], vec![2.0, 0.0, 0.0]], &[2, 0]).unwrap();
        let answers = answers(
            &heads,
            &[None, Some(&calibration)],
            &logits,
            &heads.softmax(&logits),
        );
        let Answers::Tasks { garment, tasks } = answers else {
            panic!("one task's answer for two tasks")
        };
        assert_eq!((garment.tasks, garment.top), (vec!["a", "b"], 1));
        assert_eq!(garment.logits, [-1.0, 1.0]);
        assert!((garment.probabilities[1] - 1.0 / (1.0 + (-2f32).exp())).abs() < 1e-6);
        assert_eq!(
            (tasks[0].task, tasks[0].top, tasks[0].unsure),
            ("a", 0, None)
        );
        assert_eq!((tasks[1].task, tasks[1].top), ("b", 2));
        assert_eq!(tasks[1].logits, [0.0, 0.0, 3.0]);
        // Task b is calibrated: flagged either way, its probabilities at the temperature.
        assert!(tasks[1].unsure.is_some() && tasks[1].out_of_distribution.is_some());
        assert_eq!(
            tasks[1].probabilities,
            calibration.judge(&[0.0, 0.0, 3.0]).probabilities
        );
        let sum: f32 = tasks[1].probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }
}
