//! The parameters of a `step::Classifier` named by their module paths from the root
//! (`net.<family>.<module>[.<index>]...`), as burn's optimiser names them in its parameter
//! groups (paths survive loading a checkpoint; ids do not), and where each sits in its network
//! (`Arch::depth_of`): for weight-decay groups, layer-wise learning rates and freezing all but
//! the classifier.

use std::collections::{BTreeMap, HashSet};

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use shared::model::Arch;

/// One parameter (or BatchNorm statistic, visited alike): its path's field names, the type of
/// the module that holds it (`Struct:BatchNorm`), and its id.
pub struct Named {
    pub path: Vec<String>,
    pub owner: String,
    pub id: ParamId,
}

impl Named {
    /// The path as burn's optimiser writes it: the field names joined by dots.
    pub fn joined(&self) -> String {
        self.path.join(".")
    }

    /// Its depth in a network of `arch`; `None` outside the network (`net`).
    fn depth(&self, arch: Arch) -> Option<usize> {
        // `net`, the family's variant, then torchvision's top-level module.
        let [net, _, module, rest @ ..] = self.path.as_slice() else {
            return None;
        };
        let index = rest.first().and_then(|index| index.parse().ok());
        (net == "net").then(|| arch.depth_of(module, index))
    }
}

/// Every parameter of `module`, in its order.
pub fn named<M: Module>(module: &M) -> Vec<Named> {
    let mut visitor = Names::default();
    module.visit(&mut visitor);
    visitor.params
}

/// The paths of the parameters at each depth.
pub fn paths_by_depth<M: Module>(arch: Arch, model: &M) -> BTreeMap<usize, Vec<String>> {
    let mut paths: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for param in named(model) {
        if let Some(depth) = param.depth(arch) {
            paths.entry(depth).or_default().push(param.joined());
        }
    }
    paths
}

/// The classifier's parameters (the head's depth).
pub fn classifier_params<M: Module>(arch: Arch, model: &M) -> HashSet<ParamId> {
    named(model)
        .into_iter()
        .filter(|param| param.depth(arch) == Some(arch.head_depth()))
        .map(|param| param.id)
        .collect()
}

/// The (field name, holder's type) path from the root while visiting, and what it found.
#[derive(Default)]
struct Names {
    path: Vec<(String, String)>,
    params: Vec<Named>,
}

impl ModuleVisitor for Names {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let owner = self.path.last().map(|(_, owner)| owner.clone());
        self.params.push(Named {
            path: self.path.iter().map(|(name, _)| name.clone()).collect(),
            owner: owner.unwrap_or_default(),
            id: param.id,
        });
    }
}
