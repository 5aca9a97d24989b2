namespace Waypoint.Controller.Tests.Infrastructure;

/// <summary>Polls a real condition until it holds or a deadline passes (no fixed sleeps).</summary>
internal static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    public static async Task TrueAsync(Func<bool> condition, string description, TimeSpan? timeout = null)
    {
        await TrueAsync(() => Task.FromResult(condition()), description, timeout);
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, string description, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        var delay = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {description}");
            }

            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 50));
        }
    }

    /// <summary>Polls <paramref name="probe"/> until it returns a value, and returns it.</summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T?>> probe, string description, TimeSpan? timeout = null)
        where T : class
    {
        T? found = null;
        await TrueAsync(async () => (found = await probe()) is not null, description, timeout);
        return found!;
    }
}
