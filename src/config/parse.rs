use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug)]
pub struct ConfigError(pub String);

pub trait Resolver {
    fn resolve(&self, host: &str) -> Result<IpAddr, String>;
}

pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, _host: &str) -> Result<IpAddr, String> {
        unimplemented!()
    }
}

pub fn config_path_from_arg(arg: &str) -> PathBuf {
    PathBuf::from(arg)
}
