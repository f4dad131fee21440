//! The `rheo` binary: Rheo with its built-in filters and the filter SDK tutorial's example filter
//! (`examples/filter-example`). Serving your own filters needs no change here: see
//! `rheo::Server`.

fn main() -> std::process::ExitCode {
    rheo::Server::new()
        .filter::<gstrheoedgeoutline::EdgeOutlineFilter>()
        .run()
}
