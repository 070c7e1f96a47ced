using System.Runtime.InteropServices;

namespace Reprogram.Runtime;

/// <summary>What dladdr says about an address: the file it lies in, and the nearest symbol.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DlInfo
{
    public IntPtr FileName, FileBase, SymbolName, SymbolAddress;
}

/// <summary>dlopen and friends, for <see cref="MklOnAmd"/>: in libc since glibc 2.34, in libdl.so.2 before.</summary>
internal static class DynamicLinker
{
    private static bool? _inLibc;

    private static bool InLibc
    {
        get
        {
            if (_inLibc is { } known) return known;
            try { LibcDlerror(); _inLibc = true; }
            catch (EntryPointNotFoundException) { _inLibc = false; }
            return _inLibc.Value;
        }
    }

    public static IntPtr Open(string? path, int flags) => InLibc ? LibcDlopen(path, flags) : LibdlDlopen(path, flags);
    public static IntPtr Symbol(IntPtr handle, string name) => InLibc ? LibcDlsym(handle, name) : LibdlDlsym(handle, name);
    public static int Close(IntPtr handle) => InLibc ? LibcDlclose(handle) : LibdlDlclose(handle);
    public static int Address(IntPtr address, out DlInfo info) => InLibc ? LibcDladdr(address, out info) : LibdlDladdr(address, out info);
    public static string Error() => Marshal.PtrToStringUTF8(InLibc ? LibcDlerror() : LibdlDlerror()) ?? "unknown error";

    [DllImport("libc", EntryPoint = "dlopen")] private static extern IntPtr LibcDlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string? path, int flags);
    [DllImport("libc", EntryPoint = "dlsym")] private static extern IntPtr LibcDlsym(IntPtr handle, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [DllImport("libc", EntryPoint = "dlclose")] private static extern int LibcDlclose(IntPtr handle);
    [DllImport("libc", EntryPoint = "dladdr")] private static extern int LibcDladdr(IntPtr address, out DlInfo info);
    [DllImport("libc", EntryPoint = "dlerror")] private static extern IntPtr LibcDlerror();
    [DllImport("libdl.so.2", EntryPoint = "dlopen")] private static extern IntPtr LibdlDlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string? path, int flags);
    [DllImport("libdl.so.2", EntryPoint = "dlsym")] private static extern IntPtr LibdlDlsym(IntPtr handle, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [DllImport("libdl.so.2", EntryPoint = "dlclose")] private static extern int LibdlDlclose(IntPtr handle);
    [DllImport("libdl.so.2", EntryPoint = "dladdr")] private static extern int LibdlDladdr(IntPtr address, out DlInfo info);
    [DllImport("libdl.so.2", EntryPoint = "dlerror")] private static extern IntPtr LibdlDlerror();
}
