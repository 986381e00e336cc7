//! cis-http: the HTTP layer shared by the Change and Person APIs.
//!
//! * [`error`]: [`ApiError`] and its JSON `{"code","description"}` rendering, JSON 404/405/413
//!   helpers, a JSON body extractor.
//! * [`auth`]: bearer-token validation with a cached JWKS, scope checks, an axum layer and
//!   extractor.
//! * [`change_api`]: the Change API router.
//! * [`dev_issuer`]: a local stand-in for Auth0 (JWKS, client-credentials `/oauth/token`).

pub mod auth;
pub mod change_api;
pub mod dev_issuer;
pub mod error;
pub mod person_api;

pub use auth::{AuthRequirement, AuthenticatedCaller, Claims, RequireAuthLayer, Validator};
pub use change_api::{ChangeApiSettings, ChangeApiState};
pub use dev_issuer::DevIssuer;
pub use error::{ApiError, JsonBody};
pub use person_api::{OPENAPI_JSON, PersonApiState};
