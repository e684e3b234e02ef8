package gcpiamtest

// cloudPlatformScope is the scope the adapter asks Application Default Credentials for; the
// fake's token endpoint issues tokens only to assertions that ask for it.
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
