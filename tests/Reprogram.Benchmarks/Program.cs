// Kept for the README's old command line: the benchmark now is `reprogram bench` (src/Reprogram.Cli/Bench.cs, its
// PyTorch references in src/Reprogram.Cli/bench/). Usage:
//   dotnet run -c Release --project tests/Reprogram.Benchmarks [-- --rounds 3 --steps 8 --workload pad-prompt]
return await Reprogram.Cli.Program.Main(["bench", .. args]);
