//! The FashionAI attribute tasks: names, class names in label order, and label strings.

use core::fmt;

/// One FashionAI attribute task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// The name used in the CSV files and image folders, e.g. `skirt_length_labels`.
    pub name: &'static str,
    /// Class names, in the order of the label string's characters.
    pub classes: &'static [&'static str],
}

/// The eight tasks of the FashionAI attributes challenge.
pub const TASKS: [Task; 8] = [
    Task {
        name: "skirt_length_labels",
        classes: &[
            "Invisible",
            "Short Length",
            "Knee Length",
            "Midi Length",
            "Ankle Length",
            "Floor Length",
        ],
    },
    Task {
        name: "coat_length_labels",
        classes: &[
            "Invisible",
            "High Waist Length",
            "Regular Length",
            "Long Length",
            "Micro Length",
            "Knee Length",
            "Midi Length",
            "Ankle&Floor Length",
        ],
    },
    Task {
        name: "collar_design_labels",
        classes: &[
            "Invisible",
            "Shirt Collar",
            "Peter Pan",
            "Puritan Collar",
            "Rib Collar",
        ],
    },
    Task {
        name: "lapel_design_labels",
        classes: &[
            "Invisible",
            "Notched",
            "Collarless",
            "Shawl Collar",
            "Plus Size Shawl",
        ],
    },
    Task {
        name: "neck_design_labels",
        classes: &[
            "Invisible",
            "Turtle Neck",
            "Ruffle Semi-High Collar",
            "Low Turtle Neck",
            "Draped Collar",
        ],
    },
    Task {
        name: "neckline_design_labels",
        classes: &[
            "Invisible",
            "Strapless Neck",
            "Deep V Neckline",
            "Straight Neck",
            "V Neckline",
            "Square Neckline",
            "Off Shoulder",
            "Round Neckline",
            "Sweat Heart Neck",
            "One Shoulder Neckline",
        ],
    },
    Task {
        name: "pant_length_labels",
        classes: &[
            "Invisible",
            "Short Pant",
            "Mid Length",
            "3/4 Length",
            "Cropped Pant",
            "Full Length",
        ],
    },
    Task {
        name: "sleeve_length_labels",
        classes: &[
            "Invisible",
            "Sleeveless",
            "Cup Sleeves",
            "Short Sleeves",
            "Elbow Sleeves",
            "3/4 Sleeves",
            "Wrist Length",
            "Long Sleeves",
            "Extra Long Sleeves",
        ],
    },
];

/// The headline task of the tutorial.
pub const SKIRT_LENGTH: &str = "skirt_length_labels";

impl Task {
    /// Looks a task up by its name; the error lists the known names.
    pub fn by_name(name: &str) -> Result<Task, UnknownTask> {
        TASKS
            .iter()
            .copied()
            .find(|task| task.name == name)
            .ok_or_else(|| UnknownTask(name.to_string()))
    }

    /// The tasks `spec` names: `all`, or names separated by commas (in that order).
    pub fn list(spec: &str) -> Result<Vec<Task>, UnknownTask> {
        if spec.trim() == "all" {
            return Ok(TASKS.to_vec());
        }
        let mut tasks: Vec<Task> = Vec::new();
        for name in spec.split(',').map(str::trim) {
            let task = Task::by_name(name)?;
            if !tasks.contains(&task) {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Parses a label string such as `nnnnyn` for this task.
    pub fn parse_label(&self, label: &str) -> Result<Label, LabelError> {
        Label::parse(label, self.num_classes())
    }
}

/// A task name that is not one of the eight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task `{0}` (expected one of {names})", names = TASKS.map(|t| t.name).join(", "))]
pub struct UnknownTask(pub String);

/// One character of a label string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `y`: this is the class.
    Yes,
    /// `n`: this is not the class.
    No,
    /// `m`: maybe; ambiguous, not counted by the official metric.
    Maybe,
}

impl Mark {
    /// The character a label string writes it as.
    pub fn as_char(self) -> char {
        match self {
            Mark::Yes => 'y',
            Mark::No => 'n',
            Mark::Maybe => 'm',
        }
    }

    /// The mark a label string's character stands for.
    pub fn from_char(c: char) -> Option<Mark> {
        [Mark::Yes, Mark::No, Mark::Maybe]
            .into_iter()
            .find(|mark| mark.as_char() == c)
    }
}

/// A parsed label string: the class (the position of the single `y`) and every mark, which
/// the official FashionAI metric needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub class: usize,
    pub marks: Vec<Mark>,
}

/// Why a label string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("label `{label}` has {len} characters, the task has {expected} classes")]
    WrongLength {
        label: String,
        len: usize,
        expected: usize,
    },
    #[error(
        "label `{label}` has an invalid character `{found}` at position {position} (expected y, n or m)"
    )]
    InvalidChar {
        label: String,
        found: char,
        position: usize,
    },
    #[error("label `{label}` has no `y`")]
    NoYes { label: String },
    #[error("label `{label}` has {count} `y` (positions {positions:?}), expected exactly one")]
    SeveralYes {
        label: String,
        count: usize,
        positions: Vec<usize>,
    },
}

impl Label {
    /// `class` is the answer and every other class is not: the label of an image-folder
    /// dataset, which has no "maybe".
    pub fn one_hot(class: usize, num_classes: usize) -> Label {
        let marks = (0..num_classes)
            .map(|i| if i == class { Mark::Yes } else { Mark::No })
            .collect();
        Label { class, marks }
    }

    /// Parses a label string for a task with `num_classes` classes.
    pub fn parse(label: &str, num_classes: usize) -> Result<Label, LabelError> {
        let owned = || label.to_string();
        let len = label.chars().count();
        if len != num_classes {
            return Err(LabelError::WrongLength {
                label: owned(),
                len,
                expected: num_classes,
            });
        }
        let marks = label
            .chars()
            .enumerate()
            .map(|(position, found)| {
                Mark::from_char(found).ok_or_else(|| LabelError::InvalidChar {
                    label: owned(),
                    found,
                    position,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let positions: Vec<usize> = marks
            .iter()
            .enumerate()
            .filter(|(_, mark)| **mark == Mark::Yes)
            .map(|(i, _)| i)
            .collect();
        match positions[..] {
            [class] => Ok(Label { class, marks }),
            [] => Err(LabelError::NoYes { label: owned() }),
            _ => Err(LabelError::SeveralYes {
                label: owned(),
                count: positions.len(),
                positions,
            }),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.marks
            .iter()
            .try_for_each(|mark| write!(f, "{}", mark.as_char()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_tasks_with_the_spec_class_counts() {
        let counts: Vec<(&str, usize)> = TASKS.iter().map(|t| (t.name, t.num_classes())).collect();
        assert_eq!(
            counts,
            [
                ("skirt_length_labels", 6),
                ("coat_length_labels", 8),
                ("collar_design_labels", 5),
                ("lapel_design_labels", 5),
                ("neck_design_labels", 5),
                ("neckline_design_labels", 10),
                ("pant_length_labels", 6),
                ("sleeve_length_labels", 9),
            ]
        );
        assert_eq!(
            Task::by_name(SKIRT_LENGTH).unwrap().classes[3],
            "Midi Length"
        );
    }

    #[test]
    fn class_is_the_position_of_the_y() {
        let skirt = Task::by_name(SKIRT_LENGTH).unwrap();
        let label = skirt.parse_label("nnnnyn").unwrap();
        assert_eq!(label.class, 4);
        assert_eq!(label.to_string(), "nnnnyn");
        let label = skirt.parse_label("ymnnnn").unwrap();
        assert_eq!(label.class, 0);
        assert_eq!(label.marks[1], Mark::Maybe);
    }

    #[test]
    fn bad_labels_say_what_is_wrong() {
        let skirt = Task::by_name(SKIRT_LENGTH).unwrap();
        assert_eq!(
            skirt.parse_label("nnyn").unwrap_err().to_string(),
            "label `nnyn` has 4 characters, the task has 6 classes"
        );
        assert_eq!(
            skirt.parse_label("nnnnnn").unwrap_err(),
            LabelError::NoYes {
                label: "nnnnnn".into()
            }
        );
        assert_eq!(
            skirt.parse_label("nynnyn").unwrap_err().to_string(),
            "label `nynnyn` has 2 `y` (positions [1, 4]), expected exactly one"
        );
        assert_eq!(
            skirt.parse_label("nnxnyn").unwrap_err().to_string(),
            "label `nnxnyn` has an invalid character `x` at position 2 (expected y, n or m)"
        );
        // Only `m` and `n` besides the `y`: still a valid label.
        assert!(skirt.parse_label("mmmmmy").is_ok());
    }

    #[test]
    fn task_lists() {
        let names = |spec| Task::list(spec).map(|tasks| tasks.iter().map(|t| t.name).collect());
        assert_eq!(names("all"), Ok(TASKS.map(|t| t.name).to_vec()));
        assert_eq!(
            names("pant_length_labels, skirt_length_labels,pant_length_labels"),
            Ok(vec!["pant_length_labels", "skirt_length_labels"])
        );
        assert!(names("skirt_length_labels,hats").is_err());
    }

    #[test]
    fn unknown_task_lists_the_known_ones() {
        let err = Task::by_name("hat_labels").unwrap_err().to_string();
        assert!(err.starts_with(
            "unknown task `hat_labels` (expected one of skirt_length_labels, coat_length_labels"
        ));
    }
}
