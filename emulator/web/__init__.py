"""The pages a person uses: Developer Center and console, server-rendered, every asset shipped here."""
