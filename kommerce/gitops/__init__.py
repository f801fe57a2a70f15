"""What Kommerce keeps in git for GitOps and the rules that keep it safe to commit."""
