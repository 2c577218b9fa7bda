//! Refusing `.pth` files whose pickle would run code.
//!
//! Unpickling a `.pth` file in Python calls whatever functions its pickle names: that is how a
//! weight file from the internet runs `os.system`. burn-store's reader never calls anything,
//! so nothing runs here either way; but a file that names functions outside torch is not a
//! plain state dict, and a loader that quietly skipped the entry would call such a file good
//! weights. Like `torch.load(weights_only=True)`, it is refused, with the function named.

use std::path::Path;

use burn::store::pytorch_reader::{PickleValue, PytorchReader};

use super::WeightError;

/// Fails if the file's pickle names a Python function or class outside torch, anywhere in it.
/// A file the reader cannot parse passes: the loader reports why it cannot read it.
pub(super) fn refuse_code(path: &Path) -> Result<(), WeightError> {
    let Ok(root) = PytorchReader::read_pickle_data(path, None) else {
        return Ok(());
    };
    match foreign_call(&root) {
        Some(call) => Err(WeightError::RunsCode {
            path: path.to_path_buf(),
            call: call.to_string(),
        }),
        None => Ok(()),
    }
}

/// The first name in the pickle that is not torch's own data: tensors, storages, dtypes and
/// devices read as `torch.*`, integers too wide for an `i64` as `int`; dictionaries
/// (`OrderedDict`), sets and saved `nn.Module`s are already read as plain data.
fn foreign_call(value: &PickleValue) -> Option<&str> {
    match value {
        PickleValue::Unsupported(name) if name != "int" && !name.starts_with("torch.") => {
            Some(name)
        }
        PickleValue::List(items) => items.iter().find_map(foreign_call),
        PickleValue::Dict(entries) => {
            // Sorted, so that a file with several such entries always names the same one.
            let mut keys: Vec<_> = entries.keys().collect();
            keys.sort();
            keys.into_iter().find_map(|key| foreign_call(&entries[key]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn tensor() -> PickleValue {
        PickleValue::Unsupported("torch.Tensor".to_string())
    }

    fn dict(entries: Vec<(&str, PickleValue)>) -> PickleValue {
        PickleValue::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn a_state_dict_is_data() {
        let metadata = dict(vec![("", dict(vec![("version", PickleValue::Int(1))]))]);
        let state = dict(vec![
            ("conv1.weight", tensor()),
            ("bn1.num_batches_tracked", tensor()),
            ("_metadata", metadata),
            (
                "dtype",
                PickleValue::Unsupported("torch.float16".to_string()),
            ),
            ("seed", PickleValue::Unsupported("int".to_string())),
            ("sizes", PickleValue::List(vec![PickleValue::Int(3)])),
        ]);
        assert_eq!(foreign_call(&state), None);
    }

    #[test]
    fn a_call_is_found_wherever_it_is() {
        let system = || PickleValue::Unsupported("os.system".to_string());
        assert_eq!(foreign_call(&system()), Some("os.system"));
        let nested = dict(vec![
            ("conv1.weight", tensor()),
            (
                "hooks",
                PickleValue::List(vec![PickleValue::None, system()]),
            ),
        ]);
        assert_eq!(foreign_call(&nested), Some("os.system"));
        let two = dict(vec![
            ("z", system()),
            ("a", PickleValue::Unsupported("builtins.eval".to_string())),
        ]);
        assert_eq!(foreign_call(&two), Some("builtins.eval"));
    }
}
