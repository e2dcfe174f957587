// MGTokenizers — see DESIGN.md §2 for what this module holds. Filled by a later issue; the target exists now so that the
// dependency directions are fixed from the start.


public enum MGTokenizersModule {
    public static let name = "MGTokenizers"
}
