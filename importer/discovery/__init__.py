"""Pure building blocks of the discovery flow: cleansing, OS parsing, classification, links."""
