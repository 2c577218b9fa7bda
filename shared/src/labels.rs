//! FashionAI label CSVs (`Images/<task>/<hash>.jpg,<task>,<label>`, no header), parsed from
//! text alone: the trainer checks that the images exist.

use crate::tasks::{Label, Task};

/// What one line of a label file holds for the tasks being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row<'a> {
    /// A row of one of the tasks (its position in the list read): the image path (relative
    /// to the dataset root) and its label.
    Labelled {
        image: &'a str,
        task: usize,
        label: Label,
    },
    /// A valid row of another task.
    OtherTask,
}

/// The non-blank lines of a FashionAI CSV (label files, and the test set's `question.csv`)
/// with their 1-based line numbers, split into trimmed fields. A UTF-8 BOM and CRLF line
/// endings are accepted.
pub fn csv_lines(text: &str) -> impl Iterator<Item = (u64, Vec<&str>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(index, line)| (index as u64 + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| (number, line.split(',').map(str::trim).collect()))
}

/// The lines of a label file (see [`csv_lines`]), each parsed for one of `tasks` or rejected
/// with the reason.
pub fn parse_rows<'a>(
    text: &'a str,
    tasks: &'a [Task],
) -> impl Iterator<Item = (u64, Result<Row<'a>, String>)> + 'a {
    csv_lines(text).map(|(number, fields)| (number, parse_row(&fields, tasks)))
}

fn parse_row<'a>(fields: &[&'a str], tasks: &[Task]) -> Result<Row<'a>, String> {
    let [image, row_task, label] = fields[..] else {
        return Err(format!(
            "expected 3 fields (image,task,label), found {}",
            fields.len()
        ));
    };
    let Some(task) = tasks.iter().position(|task| task.name == row_task) else {
        return Task::by_name(row_task)
            .map(|_| Row::OtherTask)
            .map_err(|err| err.to_string());
    };
    if image.is_empty() {
        return Err("the image path is empty".into());
    }
    let label = tasks[task]
        .parse_label(label)
        .map_err(|err| err.to_string())?;
    Ok(Row::Labelled { image, task, label })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::SKIRT_LENGTH;

    fn rows(text: &str) -> Vec<(u64, Result<Row<'_>, String>)> {
        let tasks = Box::leak(Box::new([Task::by_name(SKIRT_LENGTH).unwrap()]));
        parse_rows(text, tasks).collect()
    }

    #[test]
    fn bom_crlf_and_blank_lines() {
        let parsed = rows(
            "\u{feff}Images/a.jpg,skirt_length_labels,nynnnn\r\n\r\n\
             Images/b.jpg,coat_length_labels,nnnnnnnn\r\n",
        );
        assert_eq!(parsed.len(), 2);
        let (line, Ok(Row::Labelled { image, task, label })) = &parsed[0] else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            (*line, *image, *task, label.class),
            (1, "Images/a.jpg", 0, 1)
        );
        assert_eq!(parsed[1], (3, Ok(Row::OtherTask)));
    }

    #[test]
    fn bad_rows_say_why() {
        let parsed = rows(
            "a.jpg,skirt_length_labels\n\
             a.jpg,skirt_lengths,nynnnn\n\
             ,skirt_length_labels,nynnnn\n\
             a.jpg,skirt_length_labels,nyy\n",
        );
        let reasons: Vec<String> = parsed.into_iter().map(|(_, r)| r.unwrap_err()).collect();
        assert_eq!(reasons[0], "expected 3 fields (image,task,label), found 2");
        assert!(reasons[1].starts_with("unknown task `skirt_lengths`"));
        assert_eq!(reasons[2], "the image path is empty");
        assert_eq!(
            reasons[3],
            "label `nyy` has 3 characters, the task has 6 classes"
        );
    }
}
