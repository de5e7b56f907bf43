//! Fetches the default model into the codeact cache (if missing) and prints its path.

fn main() -> anyhow::Result<()> {
    let path = codeact_llm::ensure_default_model()?;
    println!("{}", path.display());
    Ok(())
}
