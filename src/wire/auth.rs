pub struct AuthKey;
pub struct AuthError;
pub struct ReplayGuard;
pub struct Timestamp;
