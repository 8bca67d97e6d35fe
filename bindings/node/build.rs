fn main() {
    // Link flags a Node addon needs on each platform (undefined napi symbols resolved by the
    // host process at load time).
    napi_build::setup();
}
