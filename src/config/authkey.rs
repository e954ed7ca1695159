use std::path::Path;

#[derive(Debug)]
pub struct AuthKeyError(pub String);

pub fn read_authkey(_path: &Path) -> Result<Vec<u8>, AuthKeyError> {
    unimplemented!()
}
