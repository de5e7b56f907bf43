//! A GGUF model's tokenizer alone: the vocabulary is loaded without the weights, so counting
//! tokens with any model's tokenizer takes a fraction of a second and little memory.

use std::path::Path;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use crate::LlmError;

/// Counts tokens with the vocabulary of one GGUF file. Safe to share between threads.
pub struct Tokenizer {
    model: LlamaModel,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads the vocabulary of the GGUF file at `path`.
    ///
    /// # Errors
    /// [`LlmError::Model`] when the file is missing or not a GGUF model.
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        let backend = super::llama_backend()?;
        if !path.is_file() {
            return Err(LlmError::Model(format!(
                "no model file at {}",
                path.display()
            )));
        }
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend, path, &params)
            .map_err(|e| LlmError::Model(format!("cannot load {}: {e}", path.display())))?;
        Ok(Self { model })
    }

    /// Tokens of `text`, with special tokens written in it (such as ChatML's `<|im_start|>`)
    /// read as the single tokens they are, and no BOS added.
    pub fn count(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, true)
            .len()
    }
}
