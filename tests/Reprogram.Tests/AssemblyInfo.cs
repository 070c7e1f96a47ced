// libtorch's random generator, thread settings and allocator are process-wide: tests that seed, train or measure
// memory must not run at the same time as others in this process.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

// Tensors a test does not dispose are freed by their finalizers, which only run when the GC runs, and the GC does not
// see native memory: a collection after each test keeps one test's leftovers from adding to the next one's peak.
[assembly: Reprogram.Tests.CollectGarbageAfterEachTest]

namespace Reprogram.Tests
{
    [AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
    public sealed class CollectGarbageAfterEachTest : Xunit.Sdk.BeforeAfterTestAttribute
    {
        public override void After(System.Reflection.MethodInfo methodUnderTest)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
    }
}
