// libtorch's random generator, thread settings and allocator are process-wide: tests that seed, train or measure
// memory must not run at the same time as others in this process.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
