//! `trainer tasks`: the FashionAI task table.

use shared::tasks::TASKS;

pub fn print() {
    for task in TASKS {
        println!("{} ({} classes)", task.name, task.num_classes());
        for (index, class) in task.classes.iter().enumerate() {
            println!("  {index}  {class}");
        }
    }
}
